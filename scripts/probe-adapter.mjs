// Asks Dawn for an adapter and prints one JSON line; exit 0 when one is found.
// Kept in plain JS so the set-up can run before TypeScript tooling is usable.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const backend = process.argv[2] ?? 'vulkan';
const options = [`backend=${backend}`];
const instance = create(options);
const adapter = await instance.requestAdapter(
  backend === 'opengles' ? { featureLevel: 'compatibility' } : undefined,
);
if (!adapter) {
  console.log(JSON.stringify({ ok: false, backend }));
  process.exit(1);
}
const info = adapter.info ?? {};
console.log(JSON.stringify({ ok: true, backend, vendor: info.vendor, architecture: info.architecture, description: info.description, features: [...adapter.features] }));
// Dawn keeps threads alive; leave explicitly (the instance stays reachable until here).
globalThis.__keep = [instance, adapter];
process.exit(0);
