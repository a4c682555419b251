import { describe, expect, it } from 'vitest';
import { cidrContains, formatIp, parseIp } from './ip.js';

describe('parseIp / formatIp', () => {
  it.each([
    ['10.244.1.2', [10, 244, 1, 2], '10.244.1.2'],
    ['::ffff:10.0.0.1', [10, 0, 0, 1], '10.0.0.1'],
    ['fd00::11', [0xfd, 0, ...new Array(13).fill(0), 0x11], 'fd00::11'],
    ['::1', [...new Array(15).fill(0), 1], '::1'],
    ['[2001:db8::1]', [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1], '2001:db8::1'],
    ['1:2:3:4:5:6:7:8', [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8], '1:2:3:4:5:6:7:8'],
  ])('%s', (text, bytes, formatted) => {
    const b = parseIp(text)!;
    expect([...b]).toEqual(bytes);
    expect(formatIp(b)).toBe(formatted);
  });

  it.each(['10.0.0', '256.1.1.1', '1:2:3', '1::2::3', 'abc', '1:2:3:4:5:6:7:8:9'])('rejects %s', (t) => {
    expect(parseIp(t)).toBeUndefined();
  });
});

describe('cidrContains', () => {
  it.each([
    ['10.244.0.0', 16, '10.244.3.4', true],
    ['10.244.0.0', 16, '10.245.3.4', false],
    ['10.244.1.0', 25, '10.244.1.127', true],
    ['10.244.1.0', 25, '10.244.1.128', false],
    ['0.0.0.0', 0, '1.2.3.4', true],
    ['fd00::', 8, 'fd12::1', true],
    ['fd00::', 8, '10.0.0.1', false],
  ])('%s/%i contains %s → %s', (net, len, ip, expected) => {
    expect(cidrContains(parseIp(net)!, len, parseIp(ip)!)).toBe(expected);
  });
});
