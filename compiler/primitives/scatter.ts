/**
 * scatter_add: the transpose of gather. out (zeros, `size` long on `axis`) gets
 * out[..., ix[j], ...] += updates[..., j, ...]. Each output element sums its matching updates
 * itself, in index order, so the result is deterministic and needs no float atomics (WGSL has none).
 */
import { isInt, numel } from '../ir';
import { definePrimitive, shapeError } from '../primitive';
import { coerce, valueType } from '../dtype';
import { apply } from '../primitive';
import { wrap } from '../../dsl/tensor';

definePrimitive({
  name: 'scatter_add',
  infer: ([u, ix], attrs) => {
    const axis = attrs.axis as number;
    const size = attrs.size as number;
    const r = ix.shape.length;
    if (!isInt(ix.dtype)) shapeError('scatter_add', 'indices must be i32 or u32', ix);
    if (u.dtype === 'bool') shapeError('scatter_add', 'cannot add bools', u);
    if (!(axis >= 0 && axis + r <= u.shape.length) || ix.shape.some((n, i) => u.shape[axis + i] !== n))
      shapeError('scatter_add', `updates must hold the index dims at axis ${axis}`, u, ix);
    return { shape: [...u.shape.slice(0, axis), size, ...u.shape.slice(axis + r)], dtype: u.dtype };
  },
  reference: ([u, ix], attrs, out) => {
    const axis = attrs.axis as number;
    const r = ix.type.shape.length;
    const size = attrs.size as number;
    const pre = numel(u.type.shape.slice(0, axis));
    const post = numel(u.type.shape.slice(axis + r));
    const m = numel(ix.type.shape);
    const res = new Float64Array(numel(out.shape));
    for (let a = 0; a < pre; a++)
      for (let j = 0; j < m; j++) {
        const i = ix.data[j];
        if (!(i >= 0 && i < size)) throw new RangeError(`scatter_add: index ${i} out of range for size ${size}`);
        for (let c = 0; c < post; c++) res[(a * size + i) * post + c] += u.data[(a * m + j) * post + c];
      }
    return res.map((v) => coerce(v, out.dtype));
  },
  emission: {
    kind: 'kernel',
    emit: (k, attrs) => {
      const axis = attrs.axis as number;
      const [u, ix] = k.inputs;
      const r = ix.shape.length;
      const size = attrs.size as number;
      const post = numel(u.shape.slice(axis + r));
      const m = numel(ix.shape);
      // An invocation owns CH consecutive elements of one output row and accumulates them in
      // registers over every index that points at that row: the index is compared once per
      // CH elements (once per element made this quadratic in the row length: 770 ms of a 1.5 s
      // training step for the splice's gradient). The scan over the indices is the cost, so CH
      // is large (matches are rare and the accumulators spill harmlessly): the token embedding's
      // gradient in the tiny Omni step (2896 ids x 2912 rows x 128) 17.6 ms at 32, 7 ms at 128.
      const CH = Math.max(1, Math.min(128, post));
      const chunks = Math.ceil(post / CH);
      const tail = post % CH !== 0;
      const inRow = (e: string) => (tail ? `if (c0 + q < ${post}) { ${e} }` : e);
      const code = `
  let ch = tid % ${chunks};
  let i = (tid / ${chunks}) % ${size};
  let a = tid / ${chunks * size};
  let c0 = ch * ${CH};
  var acc: array<${valueType(k.out.dtype)}, ${CH}>;
  for (var j = 0; j < ${m}; j++) {
    if (i32(ld_in1(j)) == i) {
      let base = (a * ${m} + j) * ${post} + c0;
      for (var q = 0; q < ${CH}; q++) { ${inRow('acc[q] += ld_in0(base + q);')} }
    }
  }
  let o = (a * ${size} + i) * ${post} + c0;
  for (var q = 0; q < ${CH}; q++) { ${inRow('st_out(o + q, acc[q]);')} }`;
      return { code, workgroupSize: 64, invocations: (numel(k.out.shape) / Math.max(1, post)) * chunks };
    },
  },
  vjp: (ct, [u, ix], _o, attrs) => [u.dtype === 'f32' || u.dtype === 'f16' ? wrap(apply('gather', [ct.node, ix.node], { axis: attrs.axis })) : undefined, undefined],
});
