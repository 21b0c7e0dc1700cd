/** Evaluation metrics: DFEW/MAFW (UAR/WAR), EMER-OV (set accuracy/recall), EMER (clue/label overlap), reports. */
export * from './classification';
export * from './emotion-wheel';
export * from './emer-ov';
export * from './emer';
export * from './report';
