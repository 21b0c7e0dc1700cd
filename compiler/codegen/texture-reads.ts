/**
 * The texture kernels (matmul, convolution, fused attention) are written against sampled
 * textures (`texture_2d<f32>`, `textureLoad(t, xy, 0)`), which every WebGPU adapter has. Where the
 * device also reads storage textures (WGSL's readonly_and_readwrite_storage_textures), the plan
 * binds them as read-only storage textures instead: on llvmpipe a sampled load is a call through
 * a sampler stub and a function lookup into a generic fetch that looks up mip offsets lane by lane,
 * a storage load a short image function (matmul 1024^2: about a quarter less time on a Zen 3).
 * The rewrite is a pure function of the WGSL our emitters produce: each `var t: texture_2d<f32>`
 * becomes `texture_storage_2d<rgba32float, read>` (every texture is rgba32float, see
 * runtime/instantiate.ts), each `textureLoad(t, ...)` a call of a helper with the same arguments
 * that drops the level (Mesa inlines it).
 */
const DECL = /var (\w+): texture_2d<f32>;/g;

export function storageTextureReads(wgsl: string): string {
  const names = [...wgsl.matchAll(DECL)].map((m) => m[1]);
  if (names.length === 0) return wgsl;
  let out = wgsl.replace(DECL, (_, n: string) => `var ${n}: texture_storage_2d<rgba32float, read>;`);
  for (const n of names) out = out.split(`textureLoad(${n}, `).join(`texel_${n}(`);
  const helpers = names.map((n) => `fn texel_${n}(xy: vec2<i32>, level: i32) -> vec4<f32> { return textureLoad(${n}, xy); }`);
  return `${out}\n${helpers.join('\n')}\n`;
}
