/**
 * `omni-emotion doctor [--backend <name>] [--json]`: what the compiler will run on. It prints
 * the adapter, whether it is a software rasteriser, the features and limits our kernels are
 * specialised on, and the environment that decides whether Dawn finds an adapter at all
 * (Vulkan drivers, Mesa, XDG_RUNTIME_DIR); see ARCHITECTURE.md, "WebGPU on a machine without a GPU".
 */
import { cpuHasAvx512 } from '../../runtime/vector-width';
import { Option, type Command } from 'commander';
import { accessSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BACKENDS, DeviceError, defaultBackend, getGpu, requestAdapter, type BackendName, type GpuBackendName } from '../../runtime/gpu';
import { loadTable, tuneFile, tuneMode } from '../../runtime/tune-table';
import type { SetExit } from './verb';

const HIGHLIGHTED = ['shader-f16', 'subgroups', 'timestamp-query'] as const;
const KEY_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;
const SIZE_LIMITS = new Set<string>(['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize']);
/** Where the Vulkan loader looks for drivers on Linux. */
const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d'];
/** Variables that change which driver loads or how Mesa's llvmpipe runs. */
const ENV_PATTERN = /^(OMNI_BACKEND|OMNI_AUTOTUNE|OMNI_TUNE_DIR|VK_ICD_FILENAMES|VK_DRIVER_FILES|VK_LOADER_\w+|EGL_PLATFORM|MESA_\w+|LP_\w+|GALLIUM_\w+|LIBGL_\w+)$/;

interface Environment {
  XDG_RUNTIME_DIR: { value: string | null; writable: boolean };
  vulkanDrivers: string[];
  mesaVersion: string | null;
  variables: Record<string, string>;
}

interface Report {
  ok: boolean;
  backend: BackendName;
  node: string;
  platform: string;
  engine?: string;
  adapter?: {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    software: boolean;
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  features?: string[];
  highlighted?: Record<string, boolean>;
  limits?: Record<string, number>;
  device?: { ok: boolean; error?: string };
  /** the autotuner's measured kernel choices for this adapter */
  autotune?: { file: string; entries: number; mode: string };
  environment: Environment;
  error?: string;
}

export function registerDoctor(program: Command, setExit: SetExit): void {
  program
    .command('doctor')
    .summary('print the WebGPU adapter, features, limits and environment')
    .addOption(new Option('--backend <name>', 'backend to probe (default: $OMNI_BACKEND or the platform default)').choices(BACKENDS))
    .option('--json', 'print one JSON object instead of text')
    .action(async (opts: { backend?: BackendName; json?: boolean }) => {
      setExit(await doctor(opts.backend ?? defaultBackend(), opts.json === true));
    });
}

export async function doctor(backend: BackendName, json: boolean): Promise<number> {
  // Read before requestAdapter, which sets XDG_RUNTIME_DIR when it is missing.
  const environment = inspectEnvironment();
  const report: Report = { ok: true, backend, node: process.version, platform: `${process.platform} ${process.arch}`, environment };
  if (backend === 'cpu') {
    report.engine = 'reference interpreter (runtime/reference, float64): no WebGPU device is used';
  } else {
    await probeGpu(backend, report);
  }
  process.stdout.write(json ? `${JSON.stringify(report)}\n` : formatReport(report));
  if (report.error) throw new DeviceError(report.error);
  return 0;
}

async function probeGpu(backend: GpuBackendName, report: Report): Promise<void> {
  const { adapter } = await requestAdapter(backend);
  if (!adapter) {
    report.ok = false;
    report.error =
      `no WebGPU adapter for backend '${backend}'. Fix: run 'npm run setup' (on Debian it installs ` +
      `mesa-vulkan-drivers from bookworm-backports), install a Vulkan driver, or use --backend cpu ` +
      `(the reference interpreter).` +
      // Dawn's OpenGL ES backend needs a display unless EGL is told to run without one.
      (backend === 'opengles' && !process.env.EGL_PLATFORM ? ` For opengles without a display, set EGL_PLATFORM=surfaceless.` : '');
    return;
  }
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  report.adapter = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: /llvmpipe|lavapipe|swiftshader/i.test(text),
    ...(info.subgroupMinSize ? { subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize } : {}),
  };
  report.environment.mesaVersion = /Mesa (\d+(?:\.\d+)+)/.exec(info.description)?.[1] ?? null;
  report.features = ([...adapter.features] as string[]).sort();
  report.highlighted = Object.fromEntries(HIGHLIGHTED.map((f) => [f, adapter.features.has(f)]));
  report.limits = Object.fromEntries(KEY_LIMITS.map((k) => [k, adapter.limits[k]]));
  // An adapter is not yet a device: open the one the runtime will use, with the limits it asks for.
  try {
    await getGpu(backend);
    report.device = { ok: true };
  } catch (e) {
    report.ok = false;
    report.device = { ok: false, error: (e as Error).message };
    report.error = `the adapter was found but no device opened on it: ${(e as Error).message}`;
    return;
  }
  const file = tuneFile(adapter.info);
  try {
    report.autotune = { file, entries: loadTable(adapter.info).size, mode: tuneMode() };
  } catch (e) {
    report.ok = false;
    report.autotune = { file, entries: 0, mode: tuneMode() };
    report.error = (e as Error).message;
  }
}

function inspectEnvironment(): Environment {
  const xdg = process.env.XDG_RUNTIME_DIR || null;
  const vulkanDrivers = ICD_DIRS.flatMap((dir) => {
    try {
      return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => join(dir, f));
    } catch {
      return []; // the folder is absent: nothing installed there
    }
  });
  const variables = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => ENV_PATTERN.test(e[0]) && e[1] !== undefined),
  );
  return { XDG_RUNTIME_DIR: { value: xdg, writable: xdg !== null && isWritable(xdg) }, vulkanDrivers, mesaVersion: null, variables };
}

function isWritable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${Number(n.toFixed(1))} ${units[i]}`;
}

function rows(entries: [string, string][], indent = '  '): string {
  const width = Math.max(...entries.map(([k]) => k.length)) + 2;
  return entries.map(([k, v]) => `${indent}${k.padEnd(width)}${v}\n`).join('');
}

function formatReport(r: Report): string {
  const yes = (b: boolean | undefined) => (b ? 'yes' : 'no');
  const head: [string, string][] = [
    ['node', `${r.node} (${r.platform})`],
    ['backend', r.backend],
  ];
  let out = 'omni-emotion doctor\n';
  if (r.engine) head.push(['engine', r.engine]);
  const a = r.adapter;
  if (a) {
    const subgroupSize = a.subgroupMinSize ? ` (size ${a.subgroupMinSize === a.subgroupMaxSize ? a.subgroupMinSize : `${a.subgroupMinSize}..${a.subgroupMaxSize}`})` : '';
    head.push(
      ['adapter', `${a.vendor || '?'} / ${a.architecture || '?'} / ${a.device || '?'}`],
      ['description', a.description || '?'],
      ['software', a.software ? 'yes (a CPU rasteriser: kernels run on the CPU cores)' : r.backend === 'null' ? 'no (the null backend computes nothing)' : 'no'],
      ...(a.software && a.subgroupMinSize ? [['vector width', vectorWidthLine(a.subgroupMinSize * 32)] as [string, string]] : []),
      ['device', r.device?.ok ? 'opened' : `FAILED: ${r.device?.error ?? ''}`],
      ...HIGHLIGHTED.map((f): [string, string] => [f, yes(r.highlighted?.[f]) + (f === 'subgroups' && r.highlighted?.[f] ? subgroupSize : '')]),
      ['other features', (r.features ?? []).filter((f) => !(HIGHLIGHTED as readonly string[]).includes(f)).join(', ') || 'none'],
    );
  }
  if (r.autotune) {
    const t = r.autotune;
    const mode = t.mode === 'off' ? 'ignored (OMNI_AUTOTUNE=0)' : t.mode === 'measure' ? 'used; missing ones measured at compile (OMNI_AUTOTUNE=1)' : 'used (OMNI_AUTOTUNE=1 measures missing ones at compile)';
    head.push(['autotune', `${t.entries} measured kernel choice${t.entries === 1 ? '' : 's'} in ${t.file}: ${mode}`]);
  }
  out += rows(head);
  if (r.limits) {
    out += 'limits\n';
    out += rows(Object.entries(r.limits).map(([k, v]) => [k, SIZE_LIMITS.has(k) ? `${v} (${formatBytes(v)})` : String(v)]));
  }
  const env = r.environment;
  const xdg = env.XDG_RUNTIME_DIR;
  out += 'environment\n';
  out += rows([
    ['XDG_RUNTIME_DIR', xdg.value === null ? 'unset (set to /tmp for this process)' : `${xdg.value}${xdg.writable ? '' : ' (NOT writable)'}`],
    ['Vulkan drivers', env.vulkanDrivers.length ? env.vulkanDrivers.join(', ') : 'none found'],
    ['Mesa lavapipe', env.vulkanDrivers.some((f) => /lvp_icd/.test(f)) ? 'installed' : 'not installed'],
    ...(env.mesaVersion ? [['Mesa version', env.mesaVersion] as [string, string]] : []),
    ...Object.entries(env.variables).map(([k, v]): [string, string] => [k, v]),
  ]);
  return out;
}

/** llvmpipe's vector width (its subgroup size in bits) and how to change it (runtime/vector-width.ts). */
function vectorWidthLine(w: number): string {
  const hint = w === 512 ? '16-lane subgroups' : w === 256 && cpuHasAvx512() ? 'OMNI_VECTOR_WIDTH=512 runs 16-lane subgroups: faster matmuls, shaders compile ~3x slower' : `${w / 32}-lane subgroups`;
  return `${w} bits (${hint})`;
}
