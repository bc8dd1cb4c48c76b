// Handlers for the tests that run AWS's Node.js runtime interface client under vigil host.
'use strict';

exports.router = async (event, context) => {
  switch (event.action) {
    case 'fail': {
      const e = new Error('kaput');
      e.name = 'CustomError';
      throw e;
    }
    case 'sleep':
      return new Promise((resolve) => setTimeout(() => resolve({ slept_ms: event.ms }), event.ms));
    case 'alloc': {
      const chunks = [];
      for (let i = 0; i < event.mb; i++) chunks.push(Buffer.alloc(1024 * 1024, 1));
      return { allocated_mb: chunks.length };
    }
    case 'slow':
      return new Promise((resolve) => setTimeout(() => resolve('late'), 10000));
    case 'exit':
      process.exit(1);
      break;
    case 'big':
      return 'x'.repeat(7 * 1024 * 1024);
    case 'log':
      console.log('hello from node', event.n);
      return { logged: true };
    case 'later':
      // Work left behind after the answer: Lambda runs it only at the next thaw.
      setTimeout(() => console.log('later from', event.n), event.ms);
      return { scheduled: true };
    case 'burst':
      burst(event.k, event.lines, context);
      return { printed: event.lines };
    default:
      return { ok: true, got: event, requestId: context.awsRequestId,
               remaining: context.getRemainingTimeInMillis() };
  }
};

// Big answers on either side of the 6 MB limit, and a streamed one.
exports.sized = async (event) => 'y'.repeat(event.bytes);
exports.stream = awslambda.streamifyResponse(async (event, responseStream) => {
  for (let i = 0; i < 3; i++) {
    responseStream.write(`chunk ${i};`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  responseStream.end();
});

// Lambda's log shapes, each line marked "burst K I" (K the invocation, I the line): Powertools
// JSON with request and X-Ray ids, Node text lines, Errors with their stacks (one record
// each: the client joins a message's lines with \r), about 300 bytes a line.
function burst(k, lines, context) {
  const trace = '1-5759e988-bd862e3fe1be46a994272793';
  for (let i = 0; i < lines; i++) {
    const tag = `burst ${k} ${i}`;
    switch (i % 4) {
      case 0:
        console.log(JSON.stringify({
          level: 'INFO', message: `${tag} order processed`, timestamp: new Date().toISOString(),
          service: 'orders', cold_start: false, function_name: 'node-fn',
          function_request_id: context.awsRequestId, xray_trace_id: trace,
          orderId: `ord-${(i * 7919) % 100003}`, amount: (i % 997) / 10 }));
        break;
      case 1:
        console.info(`${tag} fetched ${i % 50} items from inventory in ${i % 13} ms for ` +
                     `customer cus_${(i * 31) % 65537}`);
        break;
      case 2:
        console.warn(`${tag} retrying payment gateway call, attempt ${i % 3 + 1} of 3`);
        break;
      default: {
        const e = new Error(`${tag} upstream timed out`);
        console.error(e);
      }
    }
  }
}

// Response streaming (test_modes.py): chunks a gap apart, through HttpResponseStream's prelude
// when the event came through the HTTP door; an error midway when asked.
exports.streamed = globalThis.awslambda && awslambda.streamifyResponse(
  async (event, responseStream) => {
    let ev = event;
    if (event.requestContext) ev = JSON.parse(event.body || '{}');
    if (event.requestContext) {
      responseStream = awslambda.HttpResponseStream.from(responseStream, {
        statusCode: 202, headers: { 'x-from': 'node' } });
    } else {
      responseStream.setContentType('text/plain');
    }
    for (let i = 0; i < ev.chunks.length; i++) {
      if (i) await new Promise((r) => setTimeout(r, ev.gap_ms));
      responseStream.write(ev.chunks[i]);
    }
    if (ev.fail) throw new Error('midway');
    responseStream.end();
  });
