import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { CognitoJwtVerifier } from 'aws-jwt-verify';
import { requireEnv } from '../../core/config';
import { ENV } from '../../core/env-names';
import { callerOfClaims } from '../shared/http';
import { logger, withObservability } from '../shared/observability';

/** ID tokens of the stage's user pool and console/CLI app client, as the REST API's Cognito authorizer accepts them. */
const verifier = CognitoJwtVerifier.create({ userPoolId: requireEnv(ENV.userPoolId), clientId: requireEnv(ENV.userPoolClientId), tokenUse: 'id' });

/**
 * The WebSocket API's $connect authorizer: the Cognito ID token in the `token` query parameter
 * (browsers cannot set headers on a WebSocket). A missing, forged or expired token throws
 * "Unauthorized", which API Gateway answers with 401 before the upgrade. The caller reaches the
 * $connect handler as the context `sub` and `isAdmin`.
 */
export const handler = withObservability(async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
  const token = event.queryStringParameters?.token;
  const caller = token ? await verifier.verify(token).then(callerOfClaims, () => undefined) : undefined;
  if (!caller) {
    logger.info('events connection refused: no valid ID token');
    throw new Error('Unauthorized');
  }
  return {
    principalId: caller.sub,
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }] },
    context: { sub: caller.sub, isAdmin: caller.isAdmin },
  };
});
