// Tokenizer throughput benchmark (200k generated utterances by default).
// Compile and run: npx tsc -p tsconfig.json --outDir /tmp/tokbuild && node /tmp/tokbuild/tokenizer/bench.js [n]
import { main } from '../lib/bench/tokenizer';

main(process.argv.slice(2));
