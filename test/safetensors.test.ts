// safetensors reader/writer through the addon: round trips, byte-exact
// compatibility with the Python library's layout, error messages, and a
// seeded mutation test that the reader never crashes on corrupt files.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { native } from '../lib/native';

const ITEM_SIZE: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbert-safetensors-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
let fileCounter = 0;
const tmp = (name = 'f') => path.join(dir, `${fileCounter++}-${name}.safetensors`);

// Lays out a file by hand exactly as the format defines it, independent of
// our writer: u64 LE header length, header text, data.
function rawFile(header: string, data: number | Uint8Array = 0, declaredLength?: bigint): Buffer {
  const h = Buffer.from(header, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength ?? BigInt(h.length));
  const d = typeof data === 'number' ? Buffer.alloc(data, 0xab) : Buffer.from(data);
  return Buffer.concat([len, h, d]);
}

// The addon creates its objects in Node's main realm while jest runs tests in
// a vm context, so instanceof against this realm's constructors is false;
// compare the built-in tag / name instead.
const tagOf = (x: unknown) => Object.prototype.toString.call(x).slice(8, -1);
const isError = (x: unknown): x is Error => tagOf(x) === 'Error';

function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

// Deterministic PRNG (mulberry32) so failures reproduce.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('safetensors round trip', () => {
  test('F32/F16/BF16/I64/I32/U8 tensors and metadata survive write + read', async () => {
    const p = tmp('roundtrip');
    const f32 = new Float32Array([0, 1.5, -2, 3.25, Number.MAX_VALUE, -0]);
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]); // raw half bits: 1, -2, 65504, 2^-24
    const bf16 = new Uint16Array([0x3f80, 0x4049, 0xff80]); // 1, 3.140625, -inf
    const i64 = new BigInt64Array([1n, -2n, 9223372036854775807n, -9223372036854775808n]);
    const i32 = new Int32Array([7, -8, 2147483647]);
    const u8 = new Uint8Array([0, 1, 254, 255, 128]);
    const metadata = { format: 'pt', note: 'quote " backslash \\ newline \n 中文 😀' };
    await native.writeSafetensors(
      p,
      {
        'embeddings.weight': { dtype: 'F32', shape: [2, 3], data: f32 },
        half: { dtype: 'F16', shape: [4], data: f16 },
        brain: { dtype: 'BF16', shape: [3, 1], data: bf16 },
        ids: { dtype: 'I64', shape: [2, 2], data: i64 },
        counts: { dtype: 'I32', shape: [3], data: i32 },
        bytes: { dtype: 'U8', shape: [5], data: u8 },
        scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
        empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      },
      metadata,
    );

    const r = await native.readSafetensors(p);
    expect(r.metadata).toEqual(metadata);
    expect(Object.keys(r.tensors).sort()).toEqual(
      ['brain', 'bytes', 'counts', 'embeddings.weight', 'empty', 'half', 'ids', 'scalar'],
    );
    const t = r.tensors;
    expect(t['embeddings.weight'].dtype).toBe('F32');
    expect(t['embeddings.weight'].shape).toEqual([2, 3]);
    expect(tagOf(t['embeddings.weight'].data)).toBe('Float32Array');
    expect(Array.from(t['embeddings.weight'].data as Float32Array)).toEqual(Array.from(f32));
    expect(Object.is((t['embeddings.weight'].data as Float32Array)[5], -0)).toBe(true);
    expect(tagOf(t.half.data)).toBe('Uint16Array');
    expect(Array.from(t.half.data as Uint16Array)).toEqual(Array.from(f16));
    expect(t.brain.shape).toEqual([3, 1]);
    expect(Array.from(t.brain.data as Uint16Array)).toEqual(Array.from(bf16));
    expect(tagOf(t.ids.data)).toBe('BigInt64Array');
    expect(Array.from(t.ids.data as BigInt64Array)).toEqual(Array.from(i64));
    expect(tagOf(t.counts.data)).toBe('Int32Array');
    expect(Array.from(t.counts.data as Int32Array)).toEqual(Array.from(i32));
    expect(tagOf(t.bytes.data)).toBe('Uint8Array');
    expect(Array.from(t.bytes.data as Uint8Array)).toEqual(Array.from(u8));
    expect(t.scalar.shape).toEqual([]);
    expect(Array.from(t.scalar.data as Float32Array)).toEqual([42]);
    expect(t.empty.shape).toEqual([0, 4]);
    expect((t.empty.data as Float32Array).length).toBe(0);

    const info = native.inspectSafetensors(p);
    expect(info.metadata).toEqual(metadata);
    const byName = new Map(info.tensors.map((x) => [x.name, x]));
    expect(byName.get('ids')).toEqual({ name: 'ids', dtype: 'I64', shape: [2, 2], byteLength: 32 });
    expect(byName.get('half')).toEqual({ name: 'half', dtype: 'F16', shape: [4], byteLength: 8 });
    expect(byName.get('empty')!.byteLength).toBe(0);
    // Tensors are listed in file (data offset) order and tile the data section.
    const total = info.tensors.reduce((s, x) => s + x.byteLength, 0);
    const file = fs.readFileSync(p);
    expect(8 + Number(file.readBigUInt64LE(0)) + total).toBe(file.length);
  });

  test('the remaining dtypes F64/I16/I8/BOOL and any ArrayBufferView as data', async () => {
    const p = tmp('dtypes');
    const backing = new Uint8Array(32).map((_, i) => i);
    await native.writeSafetensors(p, {
      f64: { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
      i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
      i8: { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
      mask: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      // A subarray and a DataView: only the viewed bytes count.
      sub: { dtype: 'U8', shape: [4], data: backing.subarray(10, 14) },
      dv: { dtype: 'I32', shape: [1], data: new DataView(backing.buffer, 4, 4) },
      buf: { dtype: 'F32', shape: [1], data: Buffer.from(new Float32Array([2.5]).buffer) },
    });
    const t = (await native.readSafetensors(p)).tensors;
    expect(Array.from(t.f64.data as Float64Array)).toEqual([Math.PI, -1e300]);
    expect(Array.from(t.i16.data as Int16Array)).toEqual([-32768, 32767]);
    expect(tagOf(t.i8.data)).toBe('Int8Array');
    expect(Array.from(t.i8.data as Int8Array)).toEqual([-128, 127]);
    expect(Array.from(t.mask.data as Uint8Array)).toEqual([1, 0, 1]);
    expect(Array.from(t.sub.data as Uint8Array)).toEqual([10, 11, 12, 13]);
    expect(Array.from(bytesOf(t.dv.data))).toEqual([4, 5, 6, 7]);
    expect(Array.from(t.buf.data as Float32Array)).toEqual([2.5]);
  });

  test('hostile tensor names stay plain keys', async () => {
    const p = tmp('names');
    const names = ['__proto__', 'constructor', 'a\u0000b', 'a\u0000c', 'é/"\\\n', ''];
    const tensors: Parameters<typeof native.writeSafetensors>[1] = {};
    names.forEach((n, i) => {
      Object.defineProperty(tensors, n, {
        value: { dtype: 'U8', shape: [1], data: new Uint8Array([i]) },
        enumerable: true,
      });
    });
    await native.writeSafetensors(p, tensors);
    const r = await native.readSafetensors(p);
    // A tensor named __proto__ must not have become the object's prototype.
    const proto = Object.getPrototypeOf(r.tensors);
    expect(Object.getPrototypeOf(proto)).toBeNull();
    expect(Object.prototype.hasOwnProperty.call(proto, 'dtype')).toBe(false);
    expect(Object.keys(r.tensors).sort()).toEqual([...names].sort());
    names.forEach((n, i) => {
      expect(Object.prototype.hasOwnProperty.call(r.tensors, n)).toBe(true);
      expect(Array.from(r.tensors[n].data as Uint8Array)).toEqual([i]);
    });
  });

  test('overwrites atomically and leaves no temp files', async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'atomic-'));
    const p = path.join(sub, 'model.safetensors');
    await native.writeSafetensors(p, { a: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) } });
    await native.writeSafetensors(p, { b: { dtype: 'U8', shape: [2], data: new Uint8Array([2, 3]) } });
    await Promise.all(
      [1, 2, 3].map((k) =>
        native.writeSafetensors(p, { c: { dtype: 'U8', shape: [k], data: new Uint8Array(k) } }),
      ),
    );
    expect(fs.readdirSync(sub)).toEqual(['model.safetensors']);
    expect(native.inspectSafetensors(p).tensors[0].name).toBe('c');
  });
});

describe('byte compatibility with the Python safetensors layout', () => {
  test('known file: exact bytes of header and data', async () => {
    // save_file({"attn.0": torch.arange(6.).reshape(1, 2, 3)}) in Python.
    const p = tmp('known');
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    await native.writeSafetensors(p, { 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data } });
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(64);
    expect(fs.readFileSync(p)).toEqual(rawFile(header, bytesOf(data)));
  });

  test('header is padded with spaces to a multiple of 8', async () => {
    const p = tmp('padded');
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    await native.writeSafetensors(p, { attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data } });
    const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ';
    expect(header.length % 8).toBe(0);
    const file = fs.readFileSync(p);
    expect(file.readBigUInt64LE(0)).toBe(72n);
    expect(file.subarray(8, 80).toString('latin1')).toBe(header);
    expect(file).toEqual(rawFile(header, bytesOf(data)));
  });

  test('metadata first, then keys sorted by name (within a dtype)', async () => {
    const p = tmp('sorted');
    const u = (n: number) => new Uint8Array(n);
    await native.writeSafetensors(
      p,
      {
        'z.w': { dtype: 'U8', shape: [1], data: u(1) },
        'a.w': { dtype: 'U8', shape: [2], data: u(2) },
        'm.w': { dtype: 'U8', shape: [0], data: u(0) },
      },
      { framework: 'pt' },
    );
    const header =
      '{"__metadata__":{"framework":"pt"},' +
      '"a.w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},' +
      '"m.w":{"dtype":"U8","shape":[0],"data_offsets":[2,2]},' +
      '"z.w":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}';
    const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
    expect(fs.readFileSync(p)).toEqual(rawFile(padded, 3).fill(0, 8 + padded.length));
  });

  test('mixed dtypes: largest alignment first, like the Python library, so data stays aligned', async () => {
    const p = tmp('mixed');
    await native.writeSafetensors(p, {
      a: { dtype: 'U8', shape: [3], data: new Uint8Array(3) },
      b: { dtype: 'F16', shape: [1], data: new Uint16Array(1) },
      c: { dtype: 'F32', shape: [1], data: new Float32Array(1) },
      d: { dtype: 'I64', shape: [1], data: new BigInt64Array(1) },
    });
    const file = fs.readFileSync(p);
    const headerLen = Number(file.readBigUInt64LE(0));
    const header = JSON.parse(file.subarray(8, 8 + headerLen).toString('utf8'));
    expect(Object.keys(header)).toEqual(['d', 'c', 'b', 'a']);
    for (const t of native.inspectSafetensors(p).tensors) {
      const begin = header[t.name].data_offsets[0];
      expect((8 + headerLen + begin) % ITEM_SIZE[t.dtype]).toBe(0);
    }
  });

  test('reads a hand-made file in any key order, with __metadata__ anywhere', async () => {
    const p = tmp('handmade');
    const header =
      '{"y":{"dtype":"I16","shape":[2],"data_offsets":[4,8]},' +
      ' "__metadata__" : {"k":"v"},\n"x":{"shape":[],"data_offsets":[0,4],"dtype":"F32"}}  ';
    const data = Buffer.from([0, 0, 0x80, 0x3f, 1, 0, 0xff, 0xff]);
    fs.writeFileSync(p, rawFile(header, data));
    const r = await native.readSafetensors(p);
    expect(r.metadata).toEqual({ k: 'v' });
    expect(Array.from(r.tensors.x.data as Float32Array)).toEqual([1]);
    expect(Array.from(r.tensors.y.data as Int16Array)).toEqual([1, -1]);
    expect(native.inspectSafetensors(p).tensors.map((t) => t.name)).toEqual(['x', 'y']);
  });
});

describe('reader errors name the file and the problem', () => {
  const good = '{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}';

  async function expectBad(buf: Buffer, message: RegExp) {
    const p = tmp('bad');
    fs.writeFileSync(p, buf);
    let thrown: unknown;
    try {
      native.inspectSafetensors(p);
    } catch (e) {
      thrown = e;
    }
    expect(isError(thrown)).toBe(true);
    expect((thrown as Error).message).toMatch(message);
    expect((thrown as Error).message).toContain(p);
    await expect(native.readSafetensors(p)).rejects.toThrow(message);
  }

  test('a valid baseline parses', () => {
    const p = tmp('good');
    fs.writeFileSync(p, rawFile(good, 24));
    expect(native.inspectSafetensors(p).tensors).toEqual([{ name: 'w', dtype: 'F32', shape: [2, 3], byteLength: 24 }]);
  });

  test('missing file names the path', async () => {
    const p = path.join(dir, 'does-not-exist.safetensors');
    expect(() => native.inspectSafetensors(p)).toThrow(`cannot open safetensors file '${p}'`);
    expect(() => native.inspectSafetensors(p)).toThrow(/No such file/);
    await expect(native.readSafetensors(p)).rejects.toThrow(p);
  });

  test('a directory is not a file', async () => {
    expect(() => native.inspectSafetensors(dir)).toThrow(/not a regular file/);
    await expect(native.readSafetensors(dir)).rejects.toThrow(/not a regular file/);
  });

  test('file shorter than the length prefix', () => expectBad(Buffer.from([1, 2, 3]), /file is 3 bytes, too short/));
  test('truncated data', () => expectBad(rawFile(good, 20), /data_offsets \[0, 24\] run past the 20-byte data section/));
  test('truncated header', () => expectBad(rawFile(good).subarray(0, 40), /header length 57 is larger than the 32 bytes/));
  test('header length larger than the file', () =>
    expectBad(rawFile(good, 24, 100000n), /header length 100000 is larger than the 81 bytes that follow/));
  test('header length beyond the 100 MB limit', () =>
    expectBad(rawFile(good, 24, 0xffffffffffffffffn), /header length 18446744073709551615 exceeds the limit/));
  test('bad JSON', () =>
    expectBad(rawFile('{"w":{"dtype":"F32",,}}'), /header is not valid JSON: .*expected a string key \(header byte 20/));
  test('header that is not an object', () => expectBad(rawFile('"w"     '), /does not start with '\{'/));
  test('unknown dtype', () =>
    expectBad(rawFile('{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}', 1), /tensor 'w': unknown dtype 'Q4'/));
  test('negative dim', () =>
    expectBad(rawFile('{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', 1), /tensor 'w': shape\[0\] is -1/));
  test('overlapping offsets', () =>
    expectBad(
      rawFile(
        '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}',
        6,
      ),
      /tensor 'b': data_offsets \[2, 6\] overlap tensor 'a'/,
    ));
  test('gapped offsets', () =>
    expectBad(
      rawFile(
        '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[6,10]}}',
        10,
      ),
      /tensor 'b': data_offsets \[6, 10\] leave a gap of 2 bytes/,
    ));
  test('trailing bytes after the last tensor', () =>
    expectBad(rawFile(good, 30), /tensors cover 24 bytes but the data section holds 30/));
  test('size mismatch between shape and offsets', () =>
    expectBad(
      rawFile('{"x.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,12]}}', 12),
      /tensor 'x.weight': data_offsets \[0, 12\] hold 12 bytes but shape \[2, 3\] of F32 needs 24/,
    ));
  test('duplicate tensor names', () =>
    expectBad(
      rawFile(
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
        2,
      ),
      /duplicate tensor name 'a'/,
    ));
  test('extra keys in a tensor entry', () =>
    expectBad(
      rawFile('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}', 1),
      /tensor 'w': unexpected key 'x'/,
    ));
  test('non-string metadata', () =>
    expectBad(rawFile('{"__metadata__":{"k":1}}'), /'__metadata__' value for key 'k' is not a string/));
  test('shape overflow', () =>
    expectBad(
      rawFile('{"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', 8),
      /overflows/,
    ));

  test('non-string path is a TypeError', async () => {
    expect(() => (native.inspectSafetensors as (p: unknown) => unknown)(42)).toThrow(
      expect.objectContaining({ name: 'TypeError', message: 'inspectSafetensors: path must be a string' }),
    );
    await expect((native.readSafetensors as (p: unknown) => Promise<unknown>)(undefined)).rejects.toMatchObject({
      name: 'TypeError',
      message: 'readSafetensors: path must be a string',
    });
  });
});

describe('writeSafetensors validates its arguments', () => {
  type AnyWrite = (p: unknown, t: unknown, m?: unknown) => Promise<void>;
  const write = native.writeSafetensors as unknown as AnyWrite;

  async function expectReject(
    tensors: unknown,
    kind: 'TypeError' | 'RangeError',
    message: RegExp,
    metadata?: unknown,
  ) {
    const p = tmp('rejected');
    let err: unknown;
    try {
      await write(p, tensors, metadata);
    } catch (e) {
      err = e;
    }
    expect(isError(err)).toBe(true);
    expect((err as Error).name).toBe(kind);
    expect((err as Error).message).toMatch(message);
    expect(fs.existsSync(p)).toBe(false); // nothing written, not even a temp file
  }

  test('unknown dtype', () =>
    expectReject({ w: { dtype: 'F8', shape: [1], data: new Uint8Array(1) } }, 'TypeError', /tensor 'w': unknown dtype 'F8'/));
  test('dtype not a string', () =>
    expectReject({ w: { dtype: 4, shape: [1], data: new Uint8Array(1) } }, 'TypeError', /tensor 'w': dtype must be a string/));
  test('negative dim', () =>
    expectReject({ w: { dtype: 'U8', shape: [2, -1], data: new Uint8Array(1) } }, 'RangeError', /tensor 'w': shape\[1\] is -1/));
  test('non-integer dim', () =>
    expectReject({ w: { dtype: 'U8', shape: [1.5], data: new Uint8Array(1) } }, 'RangeError', /tensor 'w': shape\[0\] is 1.5/));
  test('NaN dim', () =>
    expectReject({ w: { dtype: 'U8', shape: [NaN], data: new Uint8Array(1) } }, 'RangeError', /shape\[0\] is NaN/));
  test('non-number dim', () =>
    expectReject({ w: { dtype: 'U8', shape: ['1'], data: new Uint8Array(1) } }, 'TypeError', /shape\[0\] must be a number/));
  test('shape not an array', () =>
    expectReject({ w: { dtype: 'U8', shape: 1, data: new Uint8Array(1) } }, 'TypeError', /tensor 'w': shape must be an array/));
  test('rank beyond the reader limit', () =>
    expectReject(
      { w: { dtype: 'U8', shape: new Array(1025).fill(1), data: new Uint8Array(1) } },
      'RangeError',
      /tensor 'w': rank 1025 exceeds the limit of 1024/,
    ));
  test('byteLength mismatch', () =>
    expectReject(
      { w: { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) } },
      'RangeError',
      /tensor 'w': data.byteLength is 20 but shape \[2, 3\] of F32 needs 24 bytes/,
    ));
  test('data not an ArrayBufferView', () =>
    expectReject({ w: { dtype: 'U8', shape: [2], data: [1, 2] } }, 'TypeError', /tensor 'w': data must be an ArrayBufferView/));
  test('tensor entry not an object', () =>
    expectReject({ w: 'nope' }, 'TypeError', /tensor 'w': must be an object/));
  test('tensors not an object', () => expectReject(null, 'TypeError', /tensors must be an object/));
  test('tensors is an array', () => expectReject([], 'TypeError', /tensors must be an object/));
  test('reserved __metadata__ name', () =>
    expectReject(
      Object.defineProperty({}, '__metadata__', {
        value: { dtype: 'U8', shape: [1], data: new Uint8Array(1) },
        enumerable: true,
      }),
      'TypeError',
      /reserved/,
    ));
  test('names that collide once converted to UTF-8', () =>
    expectReject(
      {
        '\ud800': { dtype: 'U8', shape: [1], data: new Uint8Array(1) },
        '\udc00': { dtype: 'U8', shape: [1], data: new Uint8Array(1) },
      },
      'TypeError',
      /same once converted to UTF-8/,
    ));
  test('metadata values must be strings', () =>
    expectReject({}, 'TypeError', /metadata 'n' must be a string/, { n: 1 }));
  test('metadata must be an object', () => expectReject({}, 'TypeError', /metadata must be an object/, 'x'));
  test('path must be a string', async () => {
    await expect(write(7, {})).rejects.toMatchObject({ name: 'TypeError', message: /path must be a string/ });
  });
  test('unwritable destination is an Error naming the path', async () => {
    const p = path.join(dir, 'no', 'such', 'dir', 'x.safetensors');
    await expect(native.writeSafetensors(p, {})).rejects.toThrow(p);
  });
});

describe('corrupt files never crash the reader', () => {
  test('300 seeded random mutations either parse consistently or throw an Error', async () => {
    const base = tmp('base');
    await native.writeSafetensors(
      base,
      {
        'encoder.layer.0.weight': { dtype: 'F32', shape: [2, 3], data: new Float32Array(6).fill(1) },
        ids: { dtype: 'I64', shape: [2], data: new BigInt64Array([1n, 2n]) },
        half: { dtype: 'F16', shape: [3], data: new Uint16Array(3) },
        bf: { dtype: 'BF16', shape: [1, 1], data: new Uint16Array(1) },
        mask: { dtype: 'BOOL', shape: [5], data: new Uint8Array(5) },
        none: { dtype: 'U8', shape: [0], data: new Uint8Array(0) },
      },
      { format: 'pt', 'ключ': 'значение' },
    );
    const original = fs.readFileSync(base);
    const headerText = original.subarray(8, 8 + Number(original.readBigUInt64LE(0))).toString('latin1');
    const tokens = [
      '{', '}', '[', ']', ',', ':', '"', '"dtype"', '"shape"', '"data_offsets"', '"__metadata__"', '"F32"', '"BF16"',
      '"Q8"', '-1', '0', '1.5', '1e3', '18446744073709551615', '9223372036854775807', 'null', 'true', '\\u0000',
      '\\ud800', '\\ud83d\\ude00', '\u00ff', ' ', '\n',
    ];
    const rnd = prng(0xc0ffee);
    const int = (n: number) => Math.floor(rnd() * n);

    function mutate(src: Buffer): Buffer {
      let b: Buffer = Buffer.from(src);
      const steps = 1 + int(3);
      for (let s = 0; s < steps; s++) {
        const hlen = b.length >= 8 ? Number(b.readBigUInt64LE(0) & 0xffffn) : 0;
        switch (int(8)) {
          case 0: {
            // Flip bytes, mostly inside the header where it matters.
            const flips = 1 + int(4);
            for (let k = 0; k < flips && b.length > 0; k++) {
              const inHeader = rnd() < 0.7 && hlen > 0;
              const pos = inHeader ? Math.min(b.length - 1, 8 + int(hlen)) : int(b.length);
              b[pos] = rnd() < 0.5 ? b[pos] ^ (1 << int(8)) : int(256);
            }
            break;
          }
          case 1:
            b = b.subarray(0, int(b.length));
            break;
          case 2: {
            const extra = Buffer.alloc(1 + int(64));
            for (let k = 0; k < extra.length; k++) extra[k] = int(256);
            b = Buffer.concat([b, extra]);
            break;
          }
          case 3: {
            if (b.length < 8) break;
            const choices = [
              BigInt(Math.max(0, hlen + int(17) - 8)),
              0n,
              BigInt(int(0x100000000)),
              0xffffffffffffffffn,
              100000001n,
              BigInt(b.length),
              BigInt(b.length - 8),
            ];
            b.writeBigUInt64LE(choices[int(choices.length)], 0);
            break;
          }
          case 4: {
            // Splice header text: replace a span with a token or another span.
            const text = headerText;
            const at = int(text.length);
            const cut = int(8);
            const insert = rnd() < 0.7 ? tokens[int(tokens.length)] : text.substr(int(text.length), 1 + int(20));
            const spliced = text.slice(0, at) + insert + text.slice(at + cut);
            const data = src.subarray(8 + text.length);
            const keepLength = rnd() < 0.3;
            b = rawFile(spliced, data, keepLength ? BigInt(text.length) : undefined);
            break;
          }
          case 5: {
            // Flip data bytes only: must still parse.
            const start = 8 + hlen;
            if (b.length > start) b[start + int(b.length - start)] ^= 0xff;
            break;
          }
          case 6: {
            // Re-pad the header with JSON whitespace and fix its length: must still parse.
            if (b.length < 8 + hlen) break;
            const pad = Buffer.from(' \t\r\n'.charAt(int(4)).repeat(1 + int(9)), 'latin1');
            b = Buffer.concat([b.subarray(0, 8 + hlen), pad, b.subarray(8 + hlen)]);
            b.writeBigUInt64LE(BigInt(hlen + pad.length), 0);
            break;
          }
          default: {
            // Move a chunk of the header elsewhere (same length, so the
            // length prefix stays consistent and the JSON is what breaks).
            if (hlen < 4 || b.length < 8 + hlen) break;
            const len = 1 + int(Math.min(16, hlen - 1));
            const from = 8 + int(hlen - len);
            const to = 8 + int(hlen - len);
            Buffer.from(b.subarray(from, from + len)).copy(b, to);
          }
        }
      }
      return b;
    }

    let parsed = 0;
    let rejected = 0;
    const p = tmp('mutant');
    for (let i = 0; i < 300; i++) {
      const b = mutate(original);
      fs.writeFileSync(p, b);
      let info: ReturnType<typeof native.inspectSafetensors> | undefined;
      try {
        info = native.inspectSafetensors(p);
      } catch (e) {
        // Must be a proper Error with a message naming the file.
        if (!isError(e) || !e.message.includes(p)) throw new Error(`mutation ${i}: bad error ${String(e)}`);
        rejected++;
        continue;
      }
      parsed++;
      // Accepted: every tensor must lie inside the file and tile the data.
      const headerLen = Number(b.readBigUInt64LE(0));
      let total = 0;
      for (const t of info.tensors) {
        const numel = t.shape.reduce((a, d) => a * d, 1);
        if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`mutation ${i}: bad shape`);
        if (numel * ITEM_SIZE[t.dtype] !== t.byteLength) throw new Error(`mutation ${i}: size mismatch for ${t.name}`);
        total += t.byteLength;
      }
      expect(8 + headerLen + total).toBe(b.length);
      if (i % 3 === 0) {
        const r = await native.readSafetensors(p);
        for (const t of info.tensors) expect(r.tensors[t.name].data.byteLength).toBe(t.byteLength);
      }
    }
    // Both outcomes must actually have been exercised.
    expect(parsed).toBeGreaterThan(10);
    expect(rejected).toBeGreaterThan(100);
  });
});
