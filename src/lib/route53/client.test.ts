import { test } from 'node:test';
import assert from 'node:assert/strict';
import aws4 from 'aws4';
import { decodeName } from './client.ts';

test('decodeName: Route 53 octal escapes become characters', () => {
  assert.equal(decodeName('\\052.example.com.'), '*.example.com.');
  assert.equal(decodeName('www.example.com.'), 'www.example.com.');
});

test('aws4 produces the documented SigV4 example signature (AWS test suite: get-vanilla)', () => {
  // The AWS Signature Version 4 test suite's get-vanilla case, with its published result.
  const signed = aws4.sign(
    { host: 'example.amazonaws.com', path: '/', method: 'GET', service: 'service', region: 'us-east-1', headers: { 'X-Amz-Date': '20150830T123600Z' } },
    { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  );
  assert.equal(
    signed.headers?.Authorization,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  );
});
