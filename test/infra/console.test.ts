import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES } from '../../functions/api/routes';
import { AdminConsole } from '../../lib/console';
import { REPO_ROOT, bareStack, joinParts } from './support/cdk';

const API_URL = 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod/';

function synth(domain?: { name: string; certificateArn: string }) {
  const stack = bareStack();
  const adminConsole = new AdminConsole(stack, 'Console', {
    sourceRoot: REPO_ROOT,
    apiUrl: API_URL,
    userPoolClientId: 'web-client-id',
    accessLogRetention: Duration.days(30),
    accessLogRemovalPolicy: RemovalPolicy.RETAIN,
    ...(domain ? { domain } : {}),
  });
  return { stack, adminConsole, template: Template.fromStack(stack) };
}

let stack: Stack;
let adminConsole: AdminConsole;
let template: Template;

beforeAll(() => {
  ({ stack, adminConsole, template } = synth());
});

const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);

describe('AdminConsole', () => {
  it('keeps the site bucket private, encrypted and TLS-only', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { LogFilePrefix: 'site-bucket/' },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    const statements = template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: logicalId(adminConsole.bucket) } } });
    const policy = Object.values(statements)[0]!.Properties.PolicyDocument.Statement as Array<Record<string, any>>;
    expect(policy).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    // Nothing but CloudFront (and CDK's own clean-up role) may read it: no public principal is allowed in.
    const readers = policy.filter((statement) => statement.Effect === 'Allow').map((statement) => statement.Principal);
    expect(readers).not.toContainEqual('*');
    expect(readers).not.toContainEqual({ AWS: '*' });
  });

  it('serves the bucket through CloudFront with Origin Access Control, and only to this distribution', () => {
    template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' },
    });
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: {
        Origins: [Match.objectLike({ OriginAccessControlId: { 'Fn::GetAtt': [Match.stringLikeRegexp('S3OriginAccessControl'), 'Id'] }, S3OriginConfig: { OriginAccessIdentity: '' } })],
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudfront.amazonaws.com' },
            Action: 's3:GetObject',
            Condition: { StringEquals: { 'AWS:SourceArn': Match.anyValue() } },
          }),
        ]),
      },
    });
  });

  it('redirects to HTTPS, serves index.html at the root, allows only GET/HEAD and logs requests', () => {
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: {
        DefaultRootObject: 'index.html',
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: 'redirect-to-https',
          AllowedMethods: ['GET', 'HEAD'],
          ResponseHeadersPolicyId: { Ref: Match.stringLikeRegexp('SecurityHeaders') },
        }),
        Logging: { Bucket: Match.anyValue(), Prefix: 'cloudfront/' },
      },
    });
  });

  it('sends a CSP that allows only its own code and calls to the API and Cognito, plus the other security headers', () => {
    const [policy] = Object.values(template.findResources('AWS::CloudFront::ResponseHeadersPolicy'));
    const headers = policy!.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
    const csp = joinParts(headers.ContentSecurityPolicy.ContentSecurityPolicy);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain(`connect-src 'self' ${API_URL} https://cognito-idp.<Ref:AWS::Region>.<Ref:AWS::URLSuffix>/`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(headers).toMatchObject({
      ContentTypeOptions: { Override: true },
      FrameOptions: { FrameOption: 'DENY' },
      ReferrerPolicy: { ReferrerPolicy: 'no-referrer' },
      StrictTransportSecurity: { AccessControlMaxAgeSec: 365 * 24 * 3600, IncludeSubdomains: true },
    });
  });

  it('deploys console/ and a config.json for this stage, then invalidates the edge', () => {
    template.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketName: { Ref: logicalId(adminConsole.bucket) },
      DistributionId: { Ref: logicalId(adminConsole.distribution) },
      DistributionPaths: ['/*'],
      Prune: true,
      SystemMetadata: { 'cache-control': 'no-cache' },
    });
    const [deployment] = Object.values(template.findResources('Custom::CDKBucketDeployment'));
    const stagedFiles = (deployment!.Properties.SourceObjectKeys as string[]).map((key) => stagedAsset(key.replace(/\.zip$/, '')));
    const siteDir = stagedFiles.find((dir) => existsSync(path.join(dir, 'index.html')))!;
    expect(readdirSync(siteDir)).toEqual(expect.arrayContaining(['index.html', 'app.js', 'styles.css']));
    expect(readdirSync(siteDir)).not.toContain('README.md');
    const configDir = stagedFiles.find((dir) => existsSync(path.join(dir, 'config.json')))!;
    const config = JSON.parse(readFileSync(path.join(configDir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ apiUrl: API_URL, userPoolClientId: 'web-client-id' });
    expect(config.cognitoEndpoint).toMatch(/^https:\/\/cognito-idp\.<<marker:0xbaba:\d>>\.<<marker:0xbaba:\d>>\/$/);
    expect(config.routes).toEqual(API_ROUTES.map((route) => `${route.method} ${route.path}`));
  });

  it('exposes its https origin for the API CORS policy', () => {
    expect(stack.resolve(adminConsole.origin)).toEqual({ 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [logicalId(adminConsole.distribution), 'DomainName'] }]] });
  });

  it('uses a custom domain with TLS 1.2 when the stage names one', () => {
    const domain = { name: 'console.example.com', certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-123456789abc' };
    const custom = synth(domain);
    custom.template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: {
        Aliases: ['console.example.com'],
        ViewerCertificate: { AcmCertificateArn: domain.certificateArn, MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' },
      },
    });
    expect(custom.adminConsole.origin).toBe('https://console.example.com');
  });
});

/** The directory CDK staged an asset into, in the test app's cloud assembly. */
function stagedAsset(hash: string): string {
  const outdir = (stack.node.root as App).outdir;
  const name = readdirSync(outdir).find((entry) => entry === `asset.${hash}`);
  if (!name) throw new Error(`asset ${hash} not staged in ${outdir}`);
  return path.join(outdir, name);
}
