// The network a request came from, as rate limits should count it. An IPv4 address is one
// subscriber; an IPv6 subscriber usually holds at least a /64 and can use any address in it, so
// limits keyed on the full IPv6 address would give one attacker 2^64 fresh counters.
//
// The address itself is Koa's ctx.ip: the socket's peer, or with TRUST_PROXY the X-Forwarded-For
// entry TRUST_PROXY_HOPS places from the right (app.ts), never one the client wrote itself.
import net from 'node:net';

export function networkOf(ip: string): string {
  const address = ip.trim().replace(/%.*$/, ''); // an IPv6 zone id names an interface, not a peer
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (net.isIPv4(address)) return address;
  if (!net.isIPv6(address)) return address || 'unknown';
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, lowercase, without leading zeros. */
function expandIPv6(address: string): string[] {
  let text = address.toLowerCase();
  const embedded = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (embedded) {
    const [a, b, c, d] = embedded[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -embedded[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const middle = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...middle, ...right].map((group) => Number.parseInt(group, 16).toString(16));
}
