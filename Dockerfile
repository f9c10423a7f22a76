# Gatehouse: compiled JavaScript on Node.js 24 LTS, production dependencies only, as a non-root user.
# Gatehouse supports Node.js 22 and 24 (package.json engines; CI tests both).
# The steps are the README's and CI's: npm ci (no install scripts), npm run build, node dist/src/main.js.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
# Nothing needs an install script (npm 11 runs none unapproved): argon2 loads its prebuilt binary.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY views ./views
COPY locales ./locales
COPY config ./config
COPY bin ./bin
USER node
EXPOSE 3000
# Liveness: /healthz (the process answers). Point a load balancer's readiness at /readyz, which also
# checks the database, so a database blip takes instances out of rotation without restarting them.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1, so SIGTERM from `docker stop` reaches the graceful shutdown; with WORKERS above 1
# (one per CPU by default in production) it is the primary, which passes the signal to each worker.
CMD ["node", "dist/src/main.js"]
