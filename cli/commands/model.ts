/**
 * `omni-emotion model --preset tiny|small|paper [--fusion F] [--trace] [--compile] [--json]`: the
 * Omni-Emotion configuration of a preset and its parameter counts per component; with --trace it
 * also builds the forward graph for the preset's inputs and reports the optimised graph's size;
 * with --compile it compiles inference (embedding step, LLM prefill, decode step) to kernels for
 * this adapter, without weights, and reports kernels, distinct shaders, planned memory and time.
 */
import type { Command } from 'commander';
import type { SetExit } from './verb';
import { UserError } from '../errors';

export function registerModel(program: Command, setExit: SetExit): void {
  program
    .command('model')
    .summary("a preset's parameter counts per component (and its traced graph size)")
    .requiredOption('--preset <name>', 'tiny | small | paper')
    .option('--fusion <variant>', 'frame_concat | video_concat | cross_attention')
    .option('--trace', 'trace and optimise the forward graph for the preset inputs')
    .option('--compile', "compile inference to kernels for this adapter (no weights needed)")
    .option('--json', 'one JSON object')
    .action(async (o: { preset: string; fusion?: string; trace?: boolean; compile?: boolean; json?: boolean }) => {
      const { PRESETS, preset, PRESET_INPUTS } = await import('../../models/omni/presets');
      const { FUSIONS } = await import('../../models/omni/config');
      const { omniParamCounts } = await import('../../models/omni/model');
      if (!(PRESETS as readonly string[]).includes(o.preset)) throw new UserError(`--preset ${o.preset}: expected one of ${PRESETS.join(', ')}`);
      if (o.fusion && !(FUSIONS as readonly string[]).includes(o.fusion)) throw new UserError(`--fusion ${o.fusion}: expected one of ${FUSIONS.join(', ')}`);
      const name = o.preset as (typeof PRESETS)[number];
      const cfg = preset(name, o.fusion ? { fusion: o.fusion as (typeof FUSIONS)[number] } : {});
      const counts = omniParamCounts(cfg);
      const result: Record<string, unknown> = { preset: name, fusion: cfg.fusion, parameters: counts };
      if (o.trace) {
        const { traceOmniForward } = await import('../../models/omni/trace-preset');
        result.graph = traceOmniForward(cfg, PRESET_INPUTS[name]);
      }
      if (o.compile) {
        if (o.fusion) throw new UserError('--compile plans the preset as it is: leave out --fusion');
        const { compilePreset } = await import('../../models/omni/compile-preset');
        const { getGpu } = await import('../../runtime/gpu');
        const { planTargetOf } = await import('../../runtime/plan');
        result.compiled = compilePreset(name, planTargetOf(await getGpu()));
      }
      if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else {
        const w = Math.max(...Object.keys(counts).map((k) => k.length));
        process.stdout.write(`Omni-Emotion ${name} (fusion ${cfg.fusion})\n`);
        for (const [k, v] of Object.entries(counts)) process.stdout.write(`  ${k.padEnd(w)}  ${v.toLocaleString('en-US').padStart(15)}\n`);
        if (result.graph) process.stdout.write(`  traced forward graph: ${JSON.stringify(result.graph)}\n`);
        const cp = result.compiled as import('../../models/omni/compile-preset').PresetPlan | undefined;
        if (cp) {
          const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
          process.stdout.write(`  compiled for this adapter in ${cp.seconds.toFixed(1)} s (a ${cp.textLength}-token prompt, ${cp.splicedLength} tokens with the media, cache ${cp.cacheLength}):\n`);
          for (const st of cp.steps)
            process.stdout.write(`    ${st.name.padEnd(8)} ${String(st.kernels).padStart(6)} kernels (${st.distinctShaders} distinct), ${mib(st.plannedBytes)} of buffers, ${st.offsetBindings} block bindings, ${st.seconds.toFixed(1)} s\n`);
        }
      }
      setExit(0);
    });
}
