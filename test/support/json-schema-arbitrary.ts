// Generated JSON shaped by a JSON Schema (the admin API's OpenAPI document), for fuzzing: each
// value usually has the type, range and members the schema declares, so a generated body gets past
// the first check to what lies behind it; now and then a value of any other type stands in, so the
// checks themselves are tried too. Strings come from the caller, who knows which realistic values
// and which nasty ones matter.
import fc from 'fast-check';

export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
};

export interface SchemaArbitraryOptions {
  /** The document's `components.schemas`, for `$ref`s. */
  components: Record<string, JsonSchema>;
  /** Strings for a member of this name (the caller mixes realistic values and nasty ones). */
  text: (member: string) => fc.Arbitrary<string>;
}

/** Any JSON at all, for a value of the wrong type (its strings any UTF-16 code units, unpaired surrogates included). */
const elsewise: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 1, stringUnit: 'binary' });

/** Right-typed 19 times in 20; any JSON value otherwise. */
function mostly(right: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 19, arbitrary: right }, { weight: 1, arbitrary: elsewise });
}

export function arbitraryFor(schema: JsonSchema, options: SchemaArbitraryOptions, member = '', depth = 0): fc.Arbitrary<unknown> {
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = options.components[name];
    if (!target) throw new Error(`no schema ${schema.$ref}`);
    return arbitraryFor(target, options, member, depth);
  }
  if (depth > 4) return elsewise;
  if (schema.const !== undefined) return mostly(fc.constant(schema.const));
  if (schema.enum) return mostly(fc.constantFrom(...schema.enum));
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((alternative) => arbitraryFor(alternative, options, member, depth)));
  if (schema.allOf?.length === 1) return arbitraryFor(schema.allOf[0]!, options, member, depth);
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (!types.length) return elsewise;
  return fc.oneof(...types.map((type) => mostly(ofType(type, schema, options, member, depth))));
}

function ofType(type: string, schema: JsonSchema, options: SchemaArbitraryOptions, member: string, depth: number): fc.Arbitrary<unknown> {
  switch (type) {
    case 'string': return options.text(member);
    case 'boolean': return fc.boolean();
    case 'null': return fc.constant(null);
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? -10;
      const max = schema.maximum ?? 10_000_000;
      return fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31 - 1) }) },
        { weight: 1, arbitrary: fc.constantFrom(min - 1, max + 1, 0.5, -0, 2 ** 53, 1e308) },
      );
    }
    case 'array':
      return fc.array(schema.items ? arbitraryFor(schema.items, options, member, depth + 1) : elsewise, { maxLength: Math.min(schema.maxItems ?? 4, 4) });
    case 'object': {
      const properties = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      // A required member is left out one time in ten, any other is there one time in six (so a
      // body is small, and the one odd value in it decides the answer), and one member the schema
      // does not declare is added one time in twenty.
      const members = Object.entries(properties).map(([name, property]) => fc.oneof(
        { weight: required.has(name) ? 1 : 5, arbitrary: fc.constant(undefined) },
        { weight: required.has(name) ? 9 : 1, arbitrary: arbitraryFor(property, options, name, depth + 1).map((value) => [name, value] as const) },
      ));
      const extra = fc.oneof({ weight: 19, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.tuple(options.text('').map((name) => name.slice(0, 30)), elsewise) });
      // A record (zod's z.record: scope descriptions, a JWK's other members) has members of any
      // name the schema does not list, each of the schema it gives.
      const open = typeof schema.additionalProperties === 'object' && Object.keys(schema.additionalProperties).length
        ? fc.dictionary(options.text(member), arbitraryFor(schema.additionalProperties, options, member, depth + 1), { maxKeys: 3 })
        : fc.constant({});
      return fc.tuple(fc.tuple(...members), extra, open).map(([present, added, more]) => ({ ...more, ...Object.fromEntries([...present, added].filter((entry) => entry !== undefined)) }));
    }
    default:
      return elsewise;
  }
}
