import { h, replaceChildren } from './dom.js';
import { errorBanner } from './ui.js';

const CHALLENGE_PROMPTS = {
  NEW_PASSWORD_REQUIRED: { label: 'New password', type: 'password', autocomplete: 'new-password', hint: 'Your account needs a new password before the first sign-in.' },
  SOFTWARE_TOKEN_MFA: { label: 'Authenticator code', type: 'text', autocomplete: 'one-time-code', hint: 'Enter the 6-digit code from your authenticator app.' },
};

/** Username and password, then any challenge Cognito asks for (new password, TOTP code). */
export function signInView({ session }) {
  let challenge;
  const username = h('input', { id: 'username', name: 'username', type: 'text', autocomplete: 'username', required: true, autofocus: true, spellcheck: 'false' });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const answer = h('input', { id: 'challenge-answer', required: true });
  const answerLabel = h('label', { for: 'challenge-answer' });
  const answerHint = h('p', { class: 'hint' });
  const credentials = h('div', { class: 'stack' }, field('Email or username', username), field('Password', password));
  const challengeStep = h('div', { class: 'stack', hidden: true }, h('div', { class: 'field' }, answerLabel, answer, answerHint));
  const message = h('div', { class: 'messages' });
  const button = h('button', { type: 'submit', class: 'button primary block' }, 'Sign in');

  const element = h(
    'section',
    { class: 'sign-in' },
    h(
      'form',
      { class: 'card sign-in-card', method: 'post', novalidate: true, onsubmit: (event) => (event.preventDefault(), submit()) },
      h('div', { class: 'brand large' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Roboport'),
      h('h1', {}, 'Sign in to the console'),
      credentials,
      challengeStep,
      message,
      button,
    ),
  );

  async function submit() {
    replaceChildren(message);
    if (!challenge && (!username.value.trim() || !password.value)) {
      replaceChildren(message, errorBanner('Enter your username and password.'));
      return;
    }
    button.disabled = true;
    try {
      challenge = challenge ? await session.respond(challenge, answer.value.trim()) : await session.signIn(username.value.trim(), password.value);
      if (challenge) showChallenge();
    } catch (error) {
      replaceChildren(message, errorBanner(error, { title: 'Sign-in failed.' }));
    } finally {
      button.disabled = false;
    }
  }

  function showChallenge() {
    const prompt = CHALLENGE_PROMPTS[challenge.name];
    if (!prompt) {
      replaceChildren(message, errorBanner(`This account needs a sign-in step the console does not support (${challenge.name}). Ask an administrator.`));
      challenge = undefined;
      return;
    }
    credentials.hidden = true;
    challengeStep.hidden = false;
    answerLabel.textContent = prompt.label;
    answerHint.textContent = prompt.hint;
    Object.assign(answer, { type: prompt.type, autocomplete: prompt.autocomplete, value: '' });
    button.textContent = 'Continue';
    answer.focus();
  }

  return { element, title: 'Sign in', dispose: () => undefined };
}

function field(label, control) {
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
}
