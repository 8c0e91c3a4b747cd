/** The response templates of each intent (for inspection and variety checks). */
import * as TP from './templates';
import type { Tpl } from './templates';
import { TOPICS } from './lexicon';

function build(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const put = (intent: string, ...lists: Tpl[][]): void => {
    out[intent] = [...new Set([...(out[intent] ?? []), ...lists.flat().map((t) => t.t)])];
  };
  put('greet', TP.GREET, TP.GREET_REPLY);
  put('react', ...Object.values(TP.REACT));
  put('thank', TP.THANK, TP.THANK_REPLY);
  put('bye', TP.BYE);
  put('ask_feeling', TP.ASK_FEELING);
  put('tell_feeling', TP.TELL_FEELING.pos, TP.TELL_FEELING.neg);
  put('ask_feeling_detail', TP.ASK_FEELING_DETAIL.pos, TP.ASK_FEELING_DETAIL.neg);
  put('tell_feeling_detail', TP.TELL_FEELING_DETAIL.pos, TP.TELL_FEELING_DETAIL.neg);
  for (const t of TOPICS) {
    put(`ask_${t}`, TP.ASK[t]);
    put(`tell_${t}`, TP.TELL[t]);
    put(`ask_${t}_detail`, TP.ASK_DETAIL[t]);
    put(`tell_${t}_detail`, TP.TELL_DETAIL[t]);
  }
  put('ask_pet_name', TP.ASK_PET_NAME);
  put('tell_pet_name', TP.TELL_PET_NAME);
  return out;
}

/** intent -> its response templates (mini-language of templates.ts). */
export const RESPONSE_TEMPLATES: Readonly<Record<string, readonly string[]>> = build();
