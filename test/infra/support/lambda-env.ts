import { ENV } from '../../../core/env-names';

/** Plausible values for every variable infrastructure may set, by the kind of value it holds. */
function placeholderFor(name: string): string {
  if (name.endsWith('_KMS_KEY_ARN')) return 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  if (name.endsWith('_ARN')) return 'arn:aws:states:eu-west-1:123456789012:stateMachine:placeholder';
  if (name.endsWith('_URL')) return 'https://sqs.eu-west-1.amazonaws.com/123456789012/placeholder';
  if (name.endsWith('_BY_HOST')) return 'portal.example.com=3';
  if (/SECONDS|DAYS|MINUTES|CONCURRENCY|SESSION|SIZE/.test(name)) return '5';
  if (name === ENV.corsAllowedOrigin) return 'https://console.example.com';
  if (name === ENV.userPoolId) return 'eu-west-1_Placehold';
  if (name === ENV.eventsManagementEndpoint) return 'https://placeholder.execute-api.eu-west-1.amazonaws.com/live';
  return 'placeholder';
}

/**
 * An environment a Lambda bundle can be loaded in as at a cold start: every variable
 * infrastructure may set, unless `base` already has it, and a region.
 */
export function placeholderLambdaEnvironment(base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const environment: Record<string, string> = { AWS_REGION: base.AWS_REGION ?? 'eu-west-1' };
  for (const name of Object.values(ENV)) environment[name] = base[name] ?? placeholderFor(name);
  return environment;
}
