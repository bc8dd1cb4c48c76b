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

exports.handler = async (event, context) => {
  switch (event.action) {
    case 'emf': return emf(event);
    case 'powertools': return powertools(event);
    case 'statsd': return hotshots(event);
    default: return { ok: true, requestId: context.awsRequestId };
  }
};
