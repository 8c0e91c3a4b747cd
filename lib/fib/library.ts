/**
 * The response templates that ship with ChatBERT-FIB, by the intent of the reply they give (the
 * embedded corpus's intents). Chosen by the intent of the user's last turn: the templates of every
 * intent that is an appropriate reply to it.
 */
export const TEMPLATE_LIBRARY: Record<string, readonly string[]> = {
  greet: ['hi ! how are you [MASK] ?', 'hello ! nice to [MASK] you !'],
  react: ['that sounds [MASK] !', 'oh , [MASK:1-2] is great !', 'wow , [MASK:1-3] !'],
  thank: ['thank you , [MASK:1-2] !'],
  bye: ['bye , [MASK:1-3] !', 'see you [MASK] !'],
  tell_feeling: ['i am [MASK] , thanks !', 'i feel [MASK] today .'],
  tell_pet: ['i have a [MASK] named [MASK] .', 'yes , i have a [MASK:1-2] .'],
  tell_pet_name: ['my [MASK] is called [MASK] .', 'her name is [MASK] .'],
  tell_job: ['i work as a [MASK:1-2] .', 'i am a [MASK:1-2] .'],
  tell_food: ['my favourite food is [MASK:1-2] .', 'i love [MASK:1-2] !'],
  tell_hobby: ['i like [MASK:1-2] in my free time .', 'i love [MASK:1-2] .'],
  tell_music: ['i love [MASK:1-2] music .', 'i listen to [MASK:1-2] .'],
  tell_film: ['i really enjoy [MASK:1-2] films .', 'i like [MASK:1-2] movies .'],
  tell_travel: ['i have been to [MASK:1-2] , it was [MASK] .', 'i want to visit [MASK:1-2] .'],
  tell_family: ['i have [MASK:1-3] .', 'i live with my [MASK:1-2] .'],
  tell_weather: ['it is [MASK] today .', 'the weather is [MASK] here .'],
  tell_plans: ['i am going to [MASK:1-3] this weekend .', 'i will [MASK:1-3] .'],
  ask_pet: ['do you have any [MASK] ?'],
  ask_job: ['what do you do for [MASK:1-2] ?'],
  ask_food: ['what is your favourite [MASK] ?'],
  ask_hobby: ['what do you like to do in your [MASK:1-2] ?'],
};
