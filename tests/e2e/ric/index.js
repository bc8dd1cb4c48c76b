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
