// A drachtio-srf application for the interoperability test of drachtio.srfproto:
// it connects with the real client library, exercises the messages of the
// protocol, and prints one JSON line per thing it observed.
'use strict';
const Srf = require('drachtio-srf');

const [port, secret] = process.argv.slice(2);
const srf = new Srf();
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

srf.on('error', (err) => emit({event: 'error', message: String(err)}));

srf.invite((req, res) => {
  emit({
    event: 'invite',
    subject: req.get('Subject'),
    body: req.body,
    txn: req.stackTxnId,
    receivedOn: req.receivedOn,
  });
  res.send(486, 'Busy Here');
});

srf.bye((req) => {
  emit({event: 'bye', source: req.source, txn: req.stackTxnId, dialog: req.stackDialogId});
  srf.disconnect();
});

srf.on('cdr:attempt', (source, time, msg) => {
  emit({event: 'cdr:attempt', source, time, method: msg.method});
});

srf.connect({host: '127.0.0.1', port: Number(port), secret, tags: ['blue', 'green']});
srf.on('connect', (err, hostport, version, localHostports) => {
  if (err) {
    emit({event: 'connect-failed', message: err.message});
    srf.disconnect();
    return;
  }
  emit({event: 'connect', hostport, version, localHostports});
  srf.request('sip:bob@127.0.0.1:5099', {
    method: 'MESSAGE',
    headers: {'Subject': 'café ☕', 'Content-Type': 'text/plain'},
    body: 'héllo 😀',
  }, (err, req) => {
    if (err) {
      emit({event: 'request-failed', message: String(err)});
      return;
    }
    emit({event: 'sent', txn: req.stackTxnId, callId: req.get('Call-ID')});
    req.on('response', (res) => emit({event: 'response', status: res.status, body: res.body}));
  });
});
