// usage: node validate.mjs FILE... -> one line per diagnostic, then VALID/INVALID per file;
// exit 1 when any file has an error diagnostic.
import { readFileSync } from 'node:fs';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const parser = new Parser();
const severity = ['error', 'warning', 'info', 'hint'];
let failed = 0;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'), { source: file });
  for (const d of diagnostics) {
    console.log(`${file}: ${severity[d.severity]} ${d.code} ${d.path.join('/')}: ${d.message}`);
  }
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  if (document && errors.length === 0) {
    console.log(`${file}: VALID (${document.version()})`);
  } else {
    console.log(`${file}: INVALID (${errors.length} errors)`);
    failed += 1;
  }
}
process.exit(failed ? 1 : 0);
