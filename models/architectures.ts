/** Registers every architecture `omni-emotion run` knows (each file calls registerArchitecture). */
import './vision/siglip';
