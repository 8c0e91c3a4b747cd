/**
 * Loads a YAML training config: by name from configs/ or by path, following `extends:`, applying
 * `--set key.path=value` overrides, then validating against the schema. Errors name the file and key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { configSchema, type ChatBertConfig } from './schema';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The configs/ directory shipped with the package. */
export const CONFIGS_DIR = path.resolve(__dirname, '..', '..', 'configs');

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Resolves a config name ("imr_tiny") or path ("./my.yaml") to a file. */
export function resolveConfigPath(nameOrPath: string, relativeTo = process.cwd()): string {
  const candidates = /[\\/]|\.ya?ml$/.test(nameOrPath)
    ? [path.resolve(relativeTo, nameOrPath)]
    : [path.join(CONFIGS_DIR, `${nameOrPath}.yaml`), path.join(CONFIGS_DIR, `${nameOrPath}.yml`), path.resolve(relativeTo, nameOrPath)];
  const found = candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
  if (!found) {
    const known = fs.existsSync(CONFIGS_DIR) ? fs.readdirSync(CONFIGS_DIR).filter((f) => /\.ya?ml$/.test(f)).map((f) => f.replace(/\.ya?ml$/, '')) : [];
    throw new ConfigError(`config '${nameOrPath}' not found (looked for ${candidates.join(', ')}); shipped configs: ${known.join(', ') || 'none'}`);
  }
  return found;
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isTree(v) && isTree(out[k]) ? deepMerge(out[k] as Tree, v) : v;
  return out;
}

/** Reads one YAML file and its `extends:` chain into a merged tree; records which file set each top-level key. */
function readTree(file: string, seen: string[] = []): { tree: Tree; files: string[] } {
  if (seen.includes(file)) throw new ConfigError(`${file}: 'extends' forms a cycle (${[...seen, file].join(' -> ')})`);
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${file}: ${(e as Error).message}`);
  }
  // An empty file would train the default 67M-parameter model without a word: say it instead.
  if (doc === null || doc === undefined) throw new ConfigError(`${file}: the config is empty (write at least \`extends: imr_tiny\` or a model and data section)`);
  if (!isTree(doc)) throw new ConfigError(`${file}: a config must be a YAML mapping`);
  const { extends: parent, ...rest } = doc;
  if (parent === undefined) return { tree: rest, files: [file] };
  if (typeof parent !== 'string') throw new ConfigError(`${file}: extends: must be a config name or path`);
  const parentFile = resolveConfigPath(parent, path.dirname(file));
  const base = readTree(parentFile, [...seen, file]);
  return { tree: deepMerge(base.tree, rest), files: [...base.files, file] };
}

/** Applies "a.b.c=value" overrides; the value is parsed as YAML (numbers, booleans, null, lists). */
export function applyOverrides(tree: Tree, overrides: readonly string[]): Tree {
  let out = tree;
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set ${o}: expected key.path=value`);
    const keys = o.slice(0, eq).split('.');
    if (keys.some((k) => k === '')) throw new ConfigError(`--set ${o}: empty key in '${o.slice(0, eq)}'`);
    let value: unknown;
    try {
      value = YAML.parse(o.slice(eq + 1));
    } catch {
      value = o.slice(eq + 1);
    }
    const patch: Tree = {};
    let cur = patch;
    keys.forEach((k, i) => {
      if (i === keys.length - 1) cur[k] = value;
      else cur = cur[k] = {} as Tree;
    });
    out = deepMerge(out, patch);
  }
  return out;
}

function describeIssues(where: string, err: z.ZodError): string {
  return err.issues
    .map((i) => {
      const key = i.path.join('.');
      if (i.code === z.ZodIssueCode.unrecognized_keys) return `${where}: unknown key ${i.keys.map((k) => (key ? `${key}.${k}` : k)).join(', ')}`;
      return `${where}: ${key || '(root)'}: ${i.message}`;
    })
    .join('\n');
}

export interface LoadedConfig {
  config: ChatBertConfig;
  /** The files read, base first. */
  files: string[];
}

export function loadConfig(nameOrPath: string, overrides: readonly string[] = []): LoadedConfig {
  const file = resolveConfigPath(nameOrPath);
  const { tree, files } = readTree(file);
  const merged = applyOverrides(tree, overrides);
  if (merged.name === undefined) merged.name = path.basename(file).replace(/\.ya?ml$/, '');
  const r = configSchema.safeParse(merged);
  if (!r.success) throw new ConfigError(describeIssues(overrides.length ? `${file} (with --set ${overrides.join(' ')})` : file, r.error));
  return { config: r.data, files };
}

/** Validates a config object given from TypeScript (no files). */
export function parseConfig(obj: unknown, where = 'config'): ChatBertConfig {
  const r = configSchema.safeParse(obj);
  if (!r.success) throw new ConfigError(describeIssues(where, r.error));
  return r.data;
}
