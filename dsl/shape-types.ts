/**
 * Shapes at the type level. A dim is a literal number, a named symbol ('B', 'T') or `number`.
 * Where dims are literals the TypeScript compiler rejects mismatches (matmul inner dims,
 * broadcasting, ranks); where they are not, the trace-time check still catches them.
 */
export type Dim = number | string;
export type Shape = readonly Dim[];

type Init<T extends Shape> = T extends readonly [...infer I extends Dim[], Dim] ? I : Shape;
type Last<T extends Shape> = T extends readonly [...Dim[], infer L extends Dim] ? L : Dim;
type IsTuple<S extends Shape> = number extends S['length'] ? false : true;

/** true when two dims may be equal (anything not a pair of different literals) */
export type DimsMatch<A, B> = A extends number
  ? B extends number
    ? number extends A
      ? true
      : number extends B
        ? true
        : [A] extends [B]
          ? true
          : false
    : true
  : A extends string
    ? B extends string
      ? string extends A
        ? true
        : string extends B
          ? true
          : [A] extends [B]
            ? true
            : false
      : true
    : true;

type BDim<A extends Dim, B extends Dim> = A extends 1 ? B : B extends 1 ? A : A;
type BOk<A extends Dim, B extends Dim> = A extends 1 ? true : B extends 1 ? true : DimsMatch<A, B>;

export type Broadcast<A extends Shape, B extends Shape> = IsTuple<A> extends false
  ? Shape
  : IsTuple<B> extends false
    ? Shape
    : A extends readonly []
      ? B
      : B extends readonly []
        ? A
        : [...Broadcast<Init<A>, Init<B>>, BDim<Last<A>, Last<B>>];

export type BroadcastOk<A extends Shape, B extends Shape> = IsTuple<A> extends false
  ? true
  : IsTuple<B> extends false
    ? true
    : A extends readonly []
      ? true
      : B extends readonly []
        ? true
        : BOk<Last<A>, Last<B>> extends true
          ? BroadcastOk<Init<A>, Init<B>>
          : false;

/** Intersected into a parameter type: `unknown` when fine, an impossible shape when not. */
export type Check<Ok, Msg extends string> = Ok extends true ? unknown : { readonly __shape_error: Msg };

export type MatmulShape<A extends Shape, B extends Shape> = IsTuple<A> extends true
  ? IsTuple<B> extends true
    ? A extends readonly [...infer BA extends Dim[], infer M extends Dim, Dim]
      ? B extends readonly [...Dim[], Dim, infer N extends Dim]
        ? [...(BA['length'] extends 0 ? Init<Init<B>> : BA), M, N]
        : Shape
      : Shape
    : Shape
  : Shape;

export type MatmulOk<A extends Shape, B extends Shape> = IsTuple<A> extends true
  ? IsTuple<B> extends true
    ? A['length'] extends 0 | 1
      ? false
      : B['length'] extends 0 | 1
        ? false
        : DimsMatch<Last<A>, Last<Init<B>>>
    : true
  : true;

export type RankIs<S extends Shape, N extends number> = IsTuple<S> extends false ? true : S['length'] extends N ? true : false;
export type RankAtLeast<S extends Shape, N extends number> = IsTuple<S> extends false ? true : S extends readonly [...Dim[], ...TupleOf<N>] ? true : false;
type TupleOf<N extends number, Acc extends Dim[] = []> = Acc['length'] extends N ? Acc : TupleOf<N, [...Acc, Dim]>;

/** The shape with the last dim replaced. */
export type WithLast<S extends Shape, D extends Dim> = IsTuple<S> extends true ? [...Init<S>, D] : Shape;
