import type { LocalUser } from './emulators/cognito';

/** The users every local stack seeds; a module of its own so that clients (the CLI) can name them without loading the stack. */
export const LOCAL_USERS: readonly LocalUser[] = [
  { username: 'client@roboport.local', email: 'client@roboport.local', password: 'Client-Passw0rd!', groups: ['clients'] },
  { username: 'admin@roboport.local', email: 'admin@roboport.local', password: 'Admin-Passw0rd!', groups: ['admins'] },
];
