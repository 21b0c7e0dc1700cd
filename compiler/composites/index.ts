export * from './activations';
export * from './norms';
export * from './attention';
export * from './losses';
