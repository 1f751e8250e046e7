/**
 * Imported first by the local entry points. The Node 20 support notice of AWS SDK v3 and the
 * end-of-support notice of SDK v2 (used inside cognito-local) say nothing about Roboport and
 * would bury the start-up banner.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE ??= '1';
