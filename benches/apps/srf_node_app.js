// A drachtio-srf (node.js) application for benches/bench_server.py: the
// subject 'node'. It connects to the server's control port in the
// drachtio-srf dialect, answers each INVITE with createUAS (200 and an SDP
// answer) and lets the dialog answer the caller's BYE, as a drachtio-srf
// application on the C++ server would.
//
// Run: node benches/apps/srf_node_app.js --control HOST:PORT --secret SECRET
// (drachtio-srf from tests/srfproto/node, installed by scripts/test.sh).
// Prints READY once connected, then serves until SIGTERM or SIGINT and prints
// COUNTS invites=.. byes=.. failed=.. to stdout.
'use strict';
const path = require('path');
const Srf = require(path.join(__dirname, '../../tests/srfproto/node/node_modules/drachtio-srf'));

const args = process.argv.slice(2);
const option = (name) => args[args.indexOf(name) + 1];
const [host, port] = option('--control').split(':');
const SDP = [
  'v=0', 'o=bench 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  'm=audio 6000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', '',
].join('\r\n');
const counts = {invites: 0, byes: 0, failed: 0};

const srf = new Srf();
srf.invite((req, res) => {
  counts.invites += 1;
  // The callback form: it runs as the reply to the 200 is read, so the
  // destroy listener is on before a BYE read in the same chunk is handled
  // (after an await it could come too late).
  srf.createUAS(req, res, {localSdp: SDP}, (err, dialog) => {
    if (err) {
      counts.failed += 1;
      return;
    }
    dialog.on('destroy', () => { counts.byes += 1; });
  });
});
srf.on('error', (err) => process.stderr.write(`error: ${err}\n`));
srf.connect({host, port: Number(port), secret: option('--secret')});
srf.on('connect', (err) => {
  if (err) {
    process.stderr.write(`connect failed: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write('READY\n');
});
const finish = () => {
  process.stdout.write(
    `COUNTS invites=${counts.invites} byes=${counts.byes} failed=${counts.failed}\n`);
  process.exit(0);
};
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
