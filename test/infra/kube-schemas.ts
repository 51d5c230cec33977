// Writes one JSON schema per Kubernetes kind, as kubeconform reads them from a directory
// (`-schema-location 'DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'`), in the
// openapi2jsonschema "standalone-strict" style, from files that registries ship:
//   node test/infra/kube-schemas.ts OUT_DIR SWAGGER_JSON [CRD_YAML...]
// SWAGGER_JSON is api/openapi-spec/swagger.json of the k8s.io/kubernetes Go module; every
// CRD_YAML (the Prometheus Operator's ServiceMonitor, PrometheusRule) adds its served versions.
// Standalone: every $ref points into the file's own `definitions` (the API has cycles, so
// they are not inlined). Strict: an object with declared properties takes no other property
// (what `kubectl apply --validate=strict` refuses), unless it preserves unknown fields.
// Like openapi2jsonschema, an optional field with a plain type may also be null, an
// int-or-string takes either, and a quantity a string or a number.
// Run by scripts/k8s-tools.sh with Node.js 24 (type stripping): node: imports and `yaml` only.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

const definitionsRef = '#/definitions/';

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** kubeconform's file name for a kind: `deployment-apps-v1`, `service-v1`, `ingress-networking-v1`. */
function schemaFileName({ group, version, kind }: GroupVersionKind): string {
  const groupPart = group === '' ? '' : `-${group.split('.')[0]}`;
  return `${kind.toLowerCase()}${groupPart}-${version}.json`.toLowerCase();
}

/** Rewrites a schema node (and everything below it) the openapi2jsonschema way. */
function convert(node: Json, refs: Set<string>): Json {
  if (Array.isArray(node)) return node.map((item) => convert(item, refs));
  if (!isObject(node)) return node;
  if (node['format'] === 'int-or-string' || node['x-kubernetes-int-or-string'] === true) {
    return { description: node['description'] ?? '', oneOf: [{ type: 'string' }, { type: 'integer' }] };
  }
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string') {
      refs.add(value.slice(definitionsRef.length));
      out[key] = value;
    } else if (key === 'properties' && isObject(value)) {
      const required = new Set(Array.isArray(node['required']) ? node['required'] : []);
      const properties: JsonObject = {};
      for (const [name, property] of Object.entries(value)) {
        const converted = convert(property, refs);
        if (!required.has(name) && isObject(converted) && typeof converted['type'] === 'string') {
          converted['type'] = [converted['type'], 'null'];
        }
        properties[name] = converted;
      }
      out[key] = properties;
    } else {
      out[key] = convert(value, refs);
    }
  }
  if (isObject(out['properties']) && !('additionalProperties' in out) && !out['x-kubernetes-preserve-unknown-fields']) {
    out['additionalProperties'] = false;
  }
  return out;
}

/** A definition by name, with the special scalar types kubectl also accepts as numbers. */
function definition(definitions: JsonObject, name: string): Json {
  if (name.endsWith('.api.resource.Quantity')) {
    return { oneOf: [{ type: 'string' }, { type: 'number' }] };
  }
  const found = definitions[name];
  if (found === undefined) throw new Error(`swagger.json has no definition ${name}`);
  return found;
}

/** A standalone schema: the root plus every definition it reaches, each converted once. */
function standalone(root: Json, lookup: (name: string) => Json, gvk: GroupVersionKind): JsonObject {
  const refs = new Set<string>();
  const schema = convert(root, refs);
  if (!isObject(schema)) throw new Error(`${gvk.kind}: the schema is not an object`);
  const definitions: JsonObject = {};
  const pending = [...refs];
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (name in definitions) continue;
    const found = new Set<string>();
    definitions[name] = convert(lookup(name), found);
    for (const ref of found) if (!(ref in definitions)) pending.push(ref);
  }
  // The schema a file is chosen by must also name that kind and version, nothing else.
  const properties = isObject(schema['properties']) ? schema['properties'] : {};
  const apiVersion = gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
  properties['apiVersion'] = { type: 'string', enum: [apiVersion] };
  properties['kind'] = { type: 'string', enum: [gvk.kind] };
  schema['properties'] = properties;
  return { $schema: 'http://json-schema.org/schema#', ...schema, definitions };
}

function fromSwagger(outDir: string, swaggerPath: string): number {
  const swagger = JSON.parse(readFileSync(swaggerPath, 'utf8')) as JsonObject;
  const definitions = swagger['definitions'];
  if (!isObject(definitions)) throw new Error(`${swaggerPath} has no definitions`);
  let written = 0;
  for (const [name, root] of Object.entries(definitions)) {
    if (!isObject(root)) continue;
    const kinds = root['x-kubernetes-group-version-kind'];
    // Options types (DeleteOptions, WatchEvent) name many kinds: they are never a manifest.
    if (!Array.isArray(kinds) || kinds.length !== 1 || !isObject(kinds[0])) continue;
    const gvk = kinds[0] as unknown as GroupVersionKind;
    if (!name.endsWith(`.${gvk.kind}`)) throw new Error(`${name} is not ${gvk.kind}`);
    const schema = standalone(root, (ref) => definition(definitions, ref), gvk);
    writeFileSync(join(outDir, schemaFileName(gvk)), JSON.stringify(schema));
    written += 1;
  }
  return written;
}

function fromCrd(outDir: string, crdPath: string): number {
  let written = 0;
  for (const document of parseAllDocuments(readFileSync(crdPath, 'utf8'))) {
    const crd = document.toJS() as JsonObject;
    const spec = crd['spec'];
    if (crd['kind'] !== 'CustomResourceDefinition' || !isObject(spec) || !isObject(spec['names'])) continue;
    const kind = String(spec['names']['kind']);
    const versions = Array.isArray(spec['versions']) ? spec['versions'] : [];
    for (const version of versions) {
      if (!isObject(version) || !isObject(version['schema'])) continue;
      const root = version['schema']['openAPIV3Schema'];
      if (!isObject(root)) continue;
      const gvk = { group: String(spec['group']), version: String(version['name']), kind };
      const schema = standalone(
        root,
        (ref) => {
          throw new Error(`${crdPath}: unexpected $ref ${ref}`);
        },
        gvk,
      );
      writeFileSync(join(outDir, schemaFileName(gvk)), JSON.stringify(schema));
      written += 1;
    }
  }
  if (written === 0) throw new Error(`${crdPath} holds no CustomResourceDefinition with a schema`);
  return written;
}

const [outDir, swaggerPath, ...crdPaths] = process.argv.slice(2);
if (outDir !== undefined && swaggerPath !== undefined) {
  mkdirSync(outDir, { recursive: true });
  let written = fromSwagger(outDir, swaggerPath);
  for (const crdPath of crdPaths) written += fromCrd(outDir, crdPath);
  console.log(`[kube-schemas] ${written} schemas written to ${outDir}`);
} else if (process.argv[1]?.endsWith('kube-schemas.ts')) {
  console.error('usage: node test/infra/kube-schemas.ts OUT_DIR SWAGGER_JSON [CRD_YAML...]');
  process.exit(2);
}
