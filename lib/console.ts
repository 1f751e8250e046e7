import path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { consoleConfig, consoleContentSecurityPolicy } from './console-settings';
import { acknowledge, resourceFinding } from './nag';

export interface AdminConsoleProps {
  /** Repository root: the console's static files are `console/` under it. */
  readonly sourceRoot: string;
  /** The REST API's base URL, with its stage path (the console calls it and CSP allows it). */
  readonly apiUrl: string;
  /** The user pool's app client for browsers (no secret, USER_PASSWORD_AUTH and refresh). */
  readonly userPoolClientId: string;
  /** A custom name with its us-east-1 ACM certificate; unset means the generated cloudfront.net name. */
  readonly domain?: { readonly name: string; readonly certificateArn: string };
  /** CloudFront and S3 access logs are deleted this long after delivery. */
  readonly accessLogRetention: Duration;
  /** Of the access logs; the site bucket only holds what the repository builds and always goes with the stack. */
  readonly accessLogRemovalPolicy: RemovalPolicy;
}

/**
 * The admin console: a private S3 bucket of static files (console/ plus a generated config.json)
 * behind CloudFront with Origin Access Control, HTTPS only and a strict security headers policy.
 */
export class AdminConsole extends Construct {
  public readonly bucket: s3.Bucket;
  /** Exposed so that the edge protection (WAF) can be attached to it. */
  public readonly distribution: cloudfront.Distribution;
  /** `https://<name>`: the one origin the API's CORS allows. */
  public readonly origin: string;
  /** The console's address, for the stack output `ConsoleUrl`. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: AdminConsoleProps) {
    super(scope, id);
    const { region, urlSuffix } = Stack.of(this);
    const cognitoEndpoint = `https://cognito-idp.${region}.${urlSuffix}/`;
    const accessLogs = this.createAccessLogsBucket(props.accessLogRetention, props.accessLogRemovalPolicy);

    this.bucket = new s3.Bucket(this, 'SiteBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'site-bucket/',
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    });

    const securityHeaders = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'Roboport console: CSP limited to the API and Cognito, no framing, no referrer',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: consoleContentSecurityPolicy({ apiUrl: props.apiUrl, cognitoEndpoint }), override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
      },
    });

    const { domain } = props;
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Roboport admin console',
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: securityHeaders,
        compress: true,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: accessLogs,
      logFilePrefix: 'cloudfront/',
      ...(domain
        ? {
            domainNames: [domain.name],
            certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', domain.certificateArn),
            minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
          }
        : {}),
    });
    acknowledge(
      this.distribution,
      'AwsSolutions-CFR1',
      'Admins and clients work from anywhere; access to the console is decided by Cognito sign-in and WAF, not by country.',
    );
    if (!domain) {
      acknowledge(
        this.distribution,
        'AwsSolutions-CFR4',
        'Without a custom domain the distribution serves *.cloudfront.net with the CloudFront default certificate, whose TLS policy cannot be changed; stages with domains.console get TLSv1.2_2021.',
      );
    }
    this.origin = `https://${domain?.name ?? this.distribution.distributionDomainName}`;
    this.url = `${this.origin}/`;

    const deployment = new s3deploy.BucketDeployment(this, 'Deployment', {
      sources: [
        s3deploy.Source.asset(path.join(props.sourceRoot, 'console'), { exclude: ['*.md'] }),
        s3deploy.Source.jsonData(
          'config.json',
          consoleConfig({ apiUrl: props.apiUrl, region, userPoolClientId: props.userPoolClientId, cognitoEndpoint }),
        ),
      ],
      destinationBucket: this.bucket,
      // File names carry no content hash: browsers revalidate, and every deploy invalidates the edge.
      cacheControl: [s3deploy.CacheControl.noCache()],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      memoryLimit: 256,
    });
    this.acknowledgeDeploymentHandler(deployment);
  }

  /**
   * The handler of BucketDeployment is a stack-level singleton of aws-cdk-lib: its role and
   * runtime are CDK's, and its grants are the copy it performs. Each finding is named exactly.
   */
  private acknowledgeDeploymentHandler(deployment: s3deploy.BucketDeployment): void {
    const role = deployment.handlerRole;
    const siteBucketArn = `<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>`;
    acknowledge(
      role,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The CDK BucketDeployment handler uses the basic execution role only to write its own logs.',
    );
    // Literal account and region in a stage that names them, pseudo parameters otherwise.
    const { account, region, partition } = Stack.of(this);
    const assetsBucketObjects = resourceFinding(this, `arn:${partition}:s3:::cdk-hnb659fds-assets-${account}-${region}/*`);
    const wildcardGrants: Array<[string, string]> = [
      ['Action::s3:GetBucket*', 'reads the staged asset and the console bucket'],
      ['Action::s3:GetObject*', 'reads the staged asset and the console bucket'],
      ['Action::s3:List*', 'lists the console bucket to prune files that are gone'],
      ['Action::s3:Abort*', 'aborts its own uploads into the console bucket'],
      ['Action::s3:DeleteObject*', 'prunes files that are gone from the console bucket'],
      [assetsBucketObjects, 'reads the staged console asset from the CDK assets bucket'],
      [`Resource::${siteBucketArn}/*`, 'writes every object of the console bucket, which holds nothing else'],
      ['Resource::*', 'creates and reads CloudFront invalidations, which have no resource-level permissions for a new distribution'],
    ];
    for (const [finding, purpose] of wildcardGrants) {
      acknowledge(role, `AwsSolutions-IAM5[${finding}]`, `Grant of the CDK BucketDeployment handler: it ${purpose}.`);
    }
    acknowledge(role.node.scope!, 'AwsSolutions-L1', 'The runtime of the CDK BucketDeployment handler is chosen by aws-cdk-lib, not by this app.');
  }

  /** Receives CloudFront standard logs (they need ACLs: object writer ownership) and the bucket's access logs. */
  private createAccessLogsBucket(retention: Duration, removalPolicy: RemovalPolicy): s3.Bucket {
    const bucket = new s3.Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.OBJECT_WRITER,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: retention }],
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
    });
    acknowledge(bucket, 'AwsSolutions-S1', 'This bucket receives the console access logs; logging it into itself would loop.');
    return bucket;
  }
}
