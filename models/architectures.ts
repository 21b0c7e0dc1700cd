/** Registers every architecture `omni-emotion run` knows (each file calls registerArchitecture). */
export {};
import './audio/whisper';
import './llm/qwen2';
import './vision/siglip';
import './face/facexformer';
import './omni/model';
