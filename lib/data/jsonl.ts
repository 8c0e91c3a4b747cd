/**
 * Users' own data as JSON Lines: one training pair a line,
 *
 *   {"context": ["hi!", "hello, how are you?"], "response": "fine, thanks.", "persona": ["i like tea."]}
 *
 * `context` (the turns before the response, oldest first; may be empty) and `response` are required, `persona`
 * (strings) and `candidates` (strings, e.g. for retrieval evaluation) are optional; other keys are ignored.
 * Blank lines are skipped. Every error names the file and the line, and says what is wrong.
 */
import * as fs from 'node:fs';
import type { Example } from './types';

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** What a value is, in words; one level deep (a deeply nested array must not exhaust the stack). */
function describe(v: unknown, depth = 0): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) {
    const bad = v.findIndex((x) => typeof x !== 'string');
    return bad >= 0 && depth === 0 ? `an array whose item ${bad} is ${describe(v[bad], 1)}` : 'an array';
  }
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Parse JSONL text; `source` (the file name) prefixes errors and ids (`<source>:<line>`). */
export function parseJsonl(text: string, source: string): Example[] {
  const examples: Example[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const where = `${source}:${i + 1}`;
    try {
      const ex = parseLine(line, where);
      examples.push(ex);
    } catch (e) {
      // Whatever went wrong (a RangeError from a pathological line included) names the file and the line.
      const msg = (e as Error).message;
      throw new Error(msg.startsWith(where) ? msg : `${where}: ${msg}`);
    }
  }
  return examples;
}

function parseLine(line: string, where: string): Example {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new Error(`${where}: invalid JSON (${(e as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${where}: expected an object like {"context": [...], "response": "..."}, got ${describe(value)}`);
  }
  const obj = value as Record<string, unknown>;
  if (!('context' in obj)) throw new Error(`${where}: missing key "context" (an array of strings, oldest turn first)`);
  if (!isStringArray(obj.context)) {
    throw new Error(`${where}: "context" must be an array of strings, got ${describe(obj.context)}`);
  }
  if (!('response' in obj)) throw new Error(`${where}: missing key "response" (a string)`);
  if (typeof obj.response !== 'string') {
    throw new Error(`${where}: "response" must be a string, got ${describe(obj.response)}`);
  }
  if (obj.response.trim() === '') throw new Error(`${where}: "response" is empty`);
  const ex: Example = {
    dialogueId: where,
    turn: obj.context.length,
    context: obj.context,
    response: obj.response,
  };
  if (obj.persona !== undefined) {
    if (!isStringArray(obj.persona)) {
      throw new Error(`${where}: "persona" must be an array of strings, got ${describe(obj.persona)}`);
    }
    ex.persona = obj.persona;
  }
  if (obj.candidates !== undefined) {
    if (!isStringArray(obj.candidates)) {
      throw new Error(`${where}: "candidates" must be an array of strings, got ${describe(obj.candidates)}`);
    }
    ex.candidates = obj.candidates;
  }
  return ex;
}

/** Read a JSONL file of training pairs (see the module comment). */
export function loadJsonl(file: string): Example[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return parseJsonl(text, file);
}
