/**
 * lib/'s floors, bottom first. A folder imports only from folders on floors below its own (and
 * from itself); folders on one floor do not import each other. `npm run lint:deps` (run by CI)
 * checks this and that no module cycle exists. lib/index.ts, the package's API, sits on top.
 */
const FLOORS = [
  ['core'], //         shared words: Conversation, ChatModel, settings tables, errors, paths, the PRNG
  ['native'], //       the typed addon, one file per binding group
  ['tokenizer', 'config'], // WordPiece; YAML configs and their schema
  ['checkpoint', 'data'], // checkpoint files (config.json, safetensors); dialogue loaders and downloads
  ['distilbert', 'corpus'], // the loaded DistilBERT; the synthetic corpus with its checker
  ['input'], //        the one function that turns a conversation into model input
  ['ra', 'ed'], //     ChatBERT-RA (retrieval), ChatBERT-ED (encoder-decoder)
  ['imr'], //          ChatBERT-IMR (grounding uses RA)
  ['fib'], //          ChatBERT-FIB (IMR filling templates)
  ['chat'], //         loading any chat model, the session
  ['train'], //        the training loop and a task per variant
  ['eval', 'serve'], // evaluation; the HTTP server
  ['bench'], //        benchmarks
  ['cli'], //          every command, the REPL, npm start
];

const floorOf = new Map(FLOORS.flatMap((names, i) => names.map((n) => [n, i])));
const forbidden = [];
for (const [name, i] of floorOf) {
  const notBelow = [...floorOf].filter(([other, j]) => other !== name && j >= i).map(([other]) => other);
  forbidden.push({
    name: `floor-${name}`,
    comment: `lib/${name} (floor ${i}) may import only from lower floors: not from ${notBelow.join(', ')}`,
    severity: 'error',
    from: { path: `^lib/${name}/` },
    to: { path: `^lib/(${notBelow.join('|')})/` },
  });
}
forbidden.push(
  // The chat page (web/, bundled for the browser by scripts/build-web.js) talks to the server over HTTP only.
  { name: 'web-no-node', severity: 'error', comment: 'web/ runs in the browser: no Node built-in modules', from: { path: '^web/' }, to: { dependencyTypes: ['core'] } },
  { name: 'web-not-lib', severity: 'error', comment: 'web/ runs in the browser: it uses the HTTP API, not lib/', from: { path: '^web/' }, to: { path: '^lib/' } },
  { name: 'no-circular', severity: 'error', comment: 'no import cycles', from: {}, to: { circular: true } },
  { name: 'not-to-index', severity: 'error', comment: 'lib/index.ts is the API for users, not for lib/', from: { path: '^lib/.+/' }, to: { path: '^lib/index\\.ts$' } },
  { name: 'folders-only', severity: 'error', comment: 'every module lives on a floor (lib/index.ts aside)', from: { path: '^lib/[^/]+\\.ts$', pathNot: '^lib/index\\.ts$' }, to: {} },
  {
    name: 'unknown-folder',
    severity: 'error',
    comment: 'a new folder in lib/ needs a floor in .dependency-cruiser.js',
    from: { path: '^lib/', pathNot: `^lib/(${[...floorOf.keys()].join('|')})/|^lib/index\\.ts$` },
    to: {},
  },
);

const config = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true, // type-only imports count too
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
module.exports = config;
