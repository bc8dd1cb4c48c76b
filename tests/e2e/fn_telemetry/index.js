// A function that hands its own telemetry to vigil with the real client libraries: EMF
// (aws-embedded-metrics, Powertools), DogStatsD (hot-shots) and the OpenTelemetry JS SDK.
// The libraries come from build/fnlibs (NODE_PATH), installed by `make e2e`.
'use strict';

let statsd = null;

function statsdClient() {
  if (!statsd) {
    const StatsD = require('hot-shots');
    statsd = new StatsD({ host: '127.0.0.1', port: Number(process.env.STATSD_PORT || 8125),
                          globalTags: { env: 'test' }, errorHandler: (e) => console.error(e) });
  }
  return statsd;
}

async function emf(event) {
  const { createMetricsLogger, Unit, StorageResolution } = require('aws-embedded-metrics');
  const m = createMetricsLogger();
  m.setNamespace('shop');
  m.setDimensions([{ Service: 'checkout' }, { Service: 'checkout', Region: 'eu' }]);
  m.putMetric('Orders', event.orders || 1, Unit.Count);
  m.putMetric('Latency', event.latency_ms || 12, Unit.Milliseconds, StorageResolution.High);
  m.putMetric('Payload', 2048, Unit.Kilobytes);
  m.putMetric('Ratio', 42, Unit.Percent);
  await m.flush();
  return { emf: true };
}

async function powertools(event) {
  const { Metrics, MetricUnit } = require('@aws-lambda-powertools/metrics');
  const metrics = new Metrics({ namespace: 'bookings', serviceName: 'booker' });
  metrics.addDimension('tier', 'gold');
  metrics.addMetric('successfulBooking', MetricUnit.Count, event.n || 1);
  metrics.addMetric('bookingTime', MetricUnit.Seconds, 0.25);
  metrics.publishStoredMetrics();
  return { powertools: true };
}

// EMF documents that break the specification, printed by hand: each stays a log line.
function emfBad() {
  const ts = Date.now();
  const lines = [
    { _aws: { CloudWatchMetrics: [{ Namespace: 'n', Metrics: [{ Name: 'NoTs' }] }] }, NoTs: 1 },
    { _aws: { Timestamp: ts, CloudWatchMetrics: [{ Namespace: 'n', Metrics: [{ Name: 'Missing' }] }] } },
    { _aws: { Timestamp: ts, CloudWatchMetrics: [{ Namespace: 'n', Dimensions: [['D']],
      Metrics: [{ Name: 'BadDim' }] }] }, BadDim: 1, D: 5 },
    { _aws: { Timestamp: ts, CloudWatchMetrics: [{ Namespace: 'n',
      Metrics: [{ Name: 'BadUnit', Unit: 'Parsecs' }] }] }, BadUnit: 1 },
  ];
  for (const l of lines) console.log(JSON.stringify(l));
  return { printed: lines.length };
}

function send(fn) {
  return new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));
}

async function hotshots(event) {
  const c = statsdClient();
  await send((cb) => c.increment('orders.placed', event.n || 3, { shop: 'north' }, cb));
  await send((cb) => c.gauge('queue.depth', 17, { shop: 'north' }, cb));
  await send((cb) => c.histogram('cart.items', 5, { shop: 'north' }, cb));
  await send((cb) => c.distribution('cart.value', 99.5, cb));
  await send((cb) => c.timing('db.query', 250, { table: 'orders' }, cb));
  await send((cb) => c.set('users.unique', event.user || 'u1', cb));
  return { statsd: true };
}

// The OpenTelemetry JS SDK, set up once per process: traces, logs and metrics exported over
// OTLP (protobuf over HTTP, or gRPC for traces) to OTEL_EXPORTER_OTLP_ENDPOINT (vigil).
let otel = null;

function otelSetup(transport) {
  if (otel && otel.transport === transport) return otel;
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');
  const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
  const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-proto');
  const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto');
  const TraceExporter = transport === 'grpc'
    ? require('@opentelemetry/exporter-trace-otlp-grpc').OTLPTraceExporter
    : require('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter;
  const base = process.env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://127.0.0.1:4318';
  const url = transport === 'grpc' ? (process.env.OTEL_GRPC_ENDPOINT || 'http://127.0.0.1:4317')
    : `${base}/v1/traces`;
  const resource = resourceFromAttributes({ 'service.name': 'checkout-fn',
                                            'service.version': '1.2.3' });
  const tracerProvider = new BasicTracerProvider({
    resource, spanProcessors: [new SimpleSpanProcessor(new TraceExporter({ url }))] });
  const loggerProvider = new LoggerProvider({
    resource, processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${base}/v1/logs` }) })] });
  const meterProvider = new MeterProvider({
    resource, readers: [new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }), exportIntervalMillis: 600000 })] });
  const meter = meterProvider.getMeter('fn');
  otel = {
    transport, tracerProvider, loggerProvider, meterProvider,
    tracer: tracerProvider.getTracer('fn', '1.0.0'),
    logger: loggerProvider.getLogger('fn'),
    orders: meter.createCounter('orders.placed', { description: 'Orders placed', unit: '{order}' }),
    latency: meter.createHistogram('checkout.latency', { unit: 'ms',
      advice: { explicitBucketBoundaries: [5, 10, 25, 50, 100] } }),
    queue: meter.createUpDownCounter('queue.size'),
  };
  return otel;
}

// Lambda's trace header as the SDK's parent context (what the AWS Lambda instrumentation does).
function lambdaContext(api) {
  const h = process.env._X_AMZN_TRACE_ID || '';
  const root = /Root=1-([0-9a-f]{8})-([0-9a-f]{24})/.exec(h);
  const parent = /Parent=([0-9a-f]{16})/.exec(h);
  if (!root || !parent) return api.ROOT_CONTEXT;
  return api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: root[1] + root[2], spanId: parent[1], isRemote: true,
    traceFlags: /Sampled=1/.test(h) ? api.TraceFlags.SAMPLED : api.TraceFlags.NONE });
}

async function otelHandler(event, context) {
  const api = require('@opentelemetry/api');
  const { SeverityNumber } = require('@opentelemetry/api-logs');
  const o = otelSetup(event.transport || 'http');
  const parent = event.detached ? api.ROOT_CONTEXT : lambdaContext(api);
  const span = o.tracer.startSpan('handler', { kind: api.SpanKind.INTERNAL,
                                               attributes: { 'order.id': event.order || 'o-1' } }, parent);
  const ctx = api.trace.setSpan(parent, span);
  const child = o.tracer.startSpan('db.query', { attributes: { 'db.system': 'postgresql' } }, ctx);
  child.end();
  span.end();
  o.logger.emit({ severityNumber: SeverityNumber.WARN, severityText: 'WARN',
                  body: `order ${event.order || 'o-1'} placed`, context: ctx,
                  attributes: { 'order.total': 42.5, shop: 'north' } });
  o.orders.add(event.n || 1, { shop: 'north' });
  o.latency.record(event.latency_ms || 12, { route: '/checkout' });
  o.queue.add(3);
  const times = {};
  for (const [name, p] of [['traces', o.tracerProvider], ['logs', o.loggerProvider],
                           ['metrics', o.meterProvider]]) {
    if (event.only && event.only !== name) continue;
    const t0 = process.hrtime.bigint();
    try {
      await p.forceFlush();
    } catch (e) {
      times[`${name}_error`] = String(e && e.message || e);  // (an unreachable collector)
    }
    times[name] = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  return { otel: true, times, traceId: span.spanContext().traceId,
           spanId: span.spanContext().spanId, requestId: context.awsRequestId };
}

exports.handler = async (event, context) => {
  switch (event.action) {
    case 'emf': return emf(event);
    case 'powertools': return powertools(event);
    case 'statsd': return hotshots(event);
    case 'emf_bad': return emfBad();
    case 'otel': return otelHandler(event, context);
    default: return { ok: true, requestId: context.awsRequestId };
  }
};
