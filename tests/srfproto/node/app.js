// Small drachtio-srf applications for the tests of the server's srf dialect
// (tests/server/test_srf_server.py, test_srf_outbound*.py). Usage:
//   node app.js <control port> <secret> <role> [<target uri>]
// Each prints one JSON line per thing a user of it would look at, and exits
// once its call is over; 'connect' (or 'connect-failed') comes first.
// A role named listen-* listens on <control port> instead (srf.listen): the
// server connects to it for each request (over TLS when SRF_TLS_CERT and
// SRF_TLS_KEY name PEM files); it prints 'listening' first, a 'connect' per
// connection, and runs until it is killed.
'use strict';
const fs = require('fs');
const Srf = require('drachtio-srf');

const [port, secret, role, target] = process.argv.slice(2);
const srf = new Srf();
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const done = () => {
  srf.disconnect();
  setTimeout(() => process.exit(0), 50);
};
const SDP = [
  'v=0', 'o=srf 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  'm=audio 41000 RTP/AVP 0', '',
].join('\r\n');

srf.on('error', (err) => emit({event: 'error', message: String(err)}));

// Each INVITE answered 200 with SDP; the connection is never closed here.
// afterCall(req) runs once the caller's BYE has ended the dialog.
const keepingUas = (afterCall) => srf.invite((req, res) => {
  const callId = req.get('Call-ID');
  emit({event: 'invite', callId});
  req.socket.on('close', () => emit({event: 'socket-closed', callId}));
  srf.createUAS(req, res, {localSdp: SDP}, (err, dialog) => {
    if (err) return emit({event: 'uas-failed', message: String(err)});
    emit({event: 'dialog', callId});
    dialog.on('destroy', () => {
      emit({event: 'destroy', callId});
      afterCall(req);
    });
  });
});

const roles = {
  // createUAS answering 200 with SDP; the caller's BYE ends the dialog.
  // (The callback form: the destroy listener is on before a BYE read with
  // the 200's reply is handled, which an await could leave too late.)
  'uas-200': () => srf.invite((req, res) => {
    emit({event: 'invite', from: req.get('From'), sdp: req.body.startsWith('v=0')});
    srf.createUAS(req, res, {localSdp: SDP}, (err, dialog) => {
      if (err) {
        emit({event: 'uas-failed', message: String(err)});
        return done();
      }
      emit({event: 'dialog', id: dialog.id, remoteSdp: dialog.remote.sdp.startsWith('v=0')});
      dialog.on('destroy', (req, reason) => {
        emit({event: 'destroy', reason, source: req.source});
        done();
      });
    });
  }),
  // createUAS answering 200, with the call detail records routed: it ends
  // once the stop record of the call has come.
  'uas-200-cdr': () => {
    for (const kind of ['attempt', 'start', 'stop']) {
      srf.on(`cdr:${kind}`, (source, time, ...rest) => {
        const msg = rest[rest.length - 1];
        const detail = rest.length > 1 ? rest[0] : undefined;
        emit({event: `cdr:${kind}`, source, time, detail, callId: msg.get('Call-ID'),
          status: msg.status, method: msg.method});
        if (kind === 'stop') done();
      });
    }
    srf.invite((req, res) => {
      emit({event: 'invite', callId: req.get('Call-ID')});
      srf.createUAS(req, res, {localSdp: SDP}, (err, dialog) => {
        if (err) return emit({event: 'uas-failed', message: String(err)});
        dialog.on('destroy', () => emit({event: 'destroy'}));
      });
    });
  },
  // A busy callee.
  'uas-486': () => srf.invite((req, res) => {
    emit({event: 'invite'});
    res.send(486, 'Busy Here', {}, (err, msg) => {
      emit({event: 'sent', status: err ? String(err) : msg.status});
      done();
    });
  }),
  // Rings; the caller cancels before the answer.
  'uas-cancel': () => srf.invite((req, res) => {
    emit({event: 'invite'});
    req.on('cancel', () => {
      emit({event: 'cancel'});
      done();
    });
    res.send(180);
  }),
  // A B2BUA to the target; either side's BYE ends the other.
  'b2bua': () => srf.invite((req, res) => {
    emit({event: 'invite'});
    // SRF_B2BUA (JSON): more options, such as proxyResponseHeaders.
    const opts = {
      localSdpB: req.body, headers: {'X-Bridged': 'yes'}, ...JSON.parse(process.env.SRF_B2BUA || '{}'),
    };
    srf.createB2BUA(req, res, target, opts, {}, (err, dialogs) => {
      if (err) {
        emit({event: 'b2bua-failed', status: err.status});
        return done();
      }
      const {uas, uac} = dialogs;
      emit({event: 'bridged', uasSdp: uas.local.sdp.startsWith('v=0')});
      uas.on('destroy', () => {
        emit({event: 'caller-hung-up'});
        uac.destroy().then(() => {
          emit({event: 'callee-released'});
          done();
        });
      });
      uac.on('destroy', () => {
        emit({event: 'callee-hung-up'});
        uas.destroy().then(done);
      });
    });
  }),
  // Listening: each INVITE the server connects for is answered 200 with
  // SDP; once the caller's BYE ends the dialog, the connection is closed.
  'listen-uas': () => srf.invite((req, res) => {
    const callId = req.get('Call-ID');
    emit({event: 'invite', callId, uri: req.uri});
    srf.createUAS(req, res, {localSdp: SDP}, (err, dialog) => {
      if (err) {
        emit({event: 'uas-failed', message: String(err)});
        return srf.endSession(req);
      }
      emit({event: 'dialog', callId});
      dialog.on('destroy', (bye, reason) => {
        emit({event: 'destroy', callId, reason, method: bye && bye.method});
        srf.endSession(req);
      });
    });
  }),
  // Listening, as listen-uas, but never closing a connection (no
  // srf.endSession): prints 'socket-closed' when the server closes it.
  'listen-uas-keep': () => keepingUas(() => {}),
  // The same, and once the caller's BYE ends the dialog, an OPTIONS to
  // <target uri> over the same connection; prints its response.
  'listen-uas-then-options': () => keepingUas((req) => {
    srf.request(req.socket, target, {method: 'OPTIONS'}, (err, options) => {
      if (err) return emit({event: 'request-failed', message: String(err)});
      emit({event: 'sent', method: options.method});
      options.on('response', (response) => emit({event: 'response', status: response.status}));
    });
  }),
  // srf.proxyRequest to the comma-separated targets, with the options of
  // SRF_PROXY (JSON); prints drachtio-srf's result.
  'proxy': () => srf.invite(async(req) => {
    emit({event: 'invite'});
    const opts = JSON.parse(process.env.SRF_PROXY || '{}');
    try {
      const results = await srf.proxyRequest(req, target.split(','), opts);
      emit({
        event: 'proxied',
        connected: results.connected,
        finalStatus: results.finalStatus,
        finalReason: results.finalResponse ? results.finalResponse.msg.reason : null,
        responses: results.responses.map((r) => ({
          address: r.address, port: Number(r.port), statuses: r.msgs.map((m) => m.status),
        })),
      });
    } catch (err) {
      emit({event: 'proxy-failed', message: String(err)});
    }
    done();
  }),
  // A reliable 183 (Require: 100rel); the 200 once its PRACK has come.
  'uas-100rel': () => srf.invite((req, res) => {
    emit({event: 'invite'});
    const opts = {headers: {Require: '100rel'}, body: SDP};
    const sent = (err, msg) => emit({
      event: 'sent', status: err ? String(err) : msg.status, rseq: msg ? msg.get('RSeq') : null,
    });
    res.send(183, 'Session Progress', opts, sent, (prack) => {
      emit({event: 'prack', rack: prack.get('RAck')});
      srf.createUAS(req, res, {localSdp: SDP}, (err, dialog) => {
        if (err) {
          emit({event: 'uas-failed', message: String(err)});
          return done();
        }
        emit({event: 'dialog'});
        dialog.on('destroy', () => {
          emit({event: 'destroy'});
          done();
        });
      });
    });
  }),
  // MESSAGE requests only (beside a JSON application routed for others).
  'message': () => srf.message((req, res) => {
    emit({event: 'message', body: req.body});
    res.send(200);
    done();
  }),
};

// A tagged application: the server's request handler may route to its tag.
roles['tagged-uas'] = roles['uas-200'];

if (role.startsWith('listen-')) {
  // Over TLS when SRF_TLS_CERT and SRF_TLS_KEY name PEM files; pinging
  // each connection every SRF_PING_INTERVAL milliseconds when it is set.
  const {SRF_TLS_CERT: cert, SRF_TLS_KEY: key, SRF_PING_INTERVAL: ping} = process.env;
  const tls = cert ? {cert: fs.readFileSync(cert), key: fs.readFileSync(key)} : undefined;
  const pinging = ping ? {enablePing: true, pingInterval: Number(ping)} : {};
  srf.listen({port: Number(port), secret, tls, ...pinging}, () => emit({event: 'listening'}));
}
else {
  const tags = role === 'tagged-uas' ? ['blue', 'green'] : [];
  srf.connect({host: '127.0.0.1', port: Number(port), secret, tags});
}
srf.on('connect', async(err, hostport, version) => {
  if (err) {
    emit({event: 'connect-failed', message: err.message});
    done();
    return;
  }
  emit({event: 'connect', hostport, version});
  if (role === 'options') {
    // srf.request: an OPTIONS out to the far end, and its response.
    // A multi-byte header and body: drachtio-srf writes Content-Length in
    // UTF-16 units (8), the server sends the body's bytes (11).
    const opts = {
      method: 'OPTIONS',
      headers: {'Subject': 'café', 'Content-Type': 'text/plain'},
      body: 'héllo 😀',
    };
    srf.request(target, opts, (err, req) => {
      if (err) {
        emit({event: 'request-failed', message: String(err)});
        return done();
      }
      emit({event: 'sent', method: req.method, callId: req.get('Call-ID')});
      req.on('response', (res) => {
        emit({event: 'response', status: res.status});
        done();
      });
    });
  }
  else if (role === 'uac-cancel') {
    // createUAC, cancelled by the app once the far end rings.
    let invite;
    const callbacks = {
      cbRequest: (err, req) => { invite = req; },
      cbProvisional: (res) => {
        emit({event: 'provisional', status: res.status});
        if (res.status === 180) {
          invite.cancel((err, cancel) => emit({event: 'cancel-sent', method: cancel.method}));
        }
      },
    };
    try {
      await srf.createUAC(target, {localSdp: SDP}, callbacks);
      emit({event: 'answered'});
    } catch (err) {
      emit({event: 'uac-failed', status: err.status});
    }
    done();
  }
  else if (role === 'register') {
    // srf.request with credentials: the 401 is answered by drachtio-srf.
    const opts = {
      method: 'REGISTER',
      headers: {
        'From': '<sip:alice@sipp.example>',
        'To': '<sip:alice@sipp.example>',
        'Contact': '<sip:alice@127.0.0.1>',
      },
      auth: {username: 'alice', password: process.env.SRF_PASSWORD},
    };
    srf.request(target, opts, (err, req) => {
      if (err) {
        emit({event: 'request-failed', message: String(err)});
        return done();
      }
      req.on('response', (res) => {
        emit({event: 'response', status: res.status});
        if (res.status >= 200) done();
      });
    });
  }
  else if (role === 'uac-proxy') {
    // createUAC to a name that resolves nowhere, through the far end as proxy.
    const opts = {localSdp: SDP, proxy: target};
    const callbacks = {
      cbRequest: (err, req) => emit({event: 'sent', uri: req.uri, route: req.get('Route')}),
    };
    try {
      const dialog = await srf.createUAC('sip:bob@nowhere.invalid', opts, callbacks);
      emit({event: 'dialog'});
      await dialog.destroy();
      emit({event: 'bye-sent'});
    } catch (err) {
      emit({event: 'uac-failed', status: err.status, message: String(err)});
    }
    done();
  }
  else if (role === 'uac-modify') {
    // createUAC, then a re-INVITE from the app (dialog.modify), then BYE.
    try {
      const dialog = await srf.createUAC(target, {localSdp: SDP});
      emit({event: 'dialog'});
      await dialog.modify(SDP.replace('o=srf 1 1', 'o=srf 1 2'));
      emit({event: 'modified', remoteSdp: dialog.remote.sdp.startsWith('v=0')});
      await dialog.destroy();
      emit({event: 'bye-sent'});
    } catch (err) {
      emit({event: 'uac-failed', status: err.status, message: String(err)});
    }
    done();
  }
  else if (role === 'uac-follow' || role === 'uac-redirect') {
    // createUAC to a far end that redirects: drachtio-srf follows the 3xx
    // (followRedirects), or the app calls the Contact of the 3xx itself.
    const follow = role === 'uac-follow';
    let uri = target;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const dialog = await srf.createUAC(uri, {localSdp: SDP, followRedirects: follow});
        emit({event: 'dialog', uri: dialog.sip.remoteUri || null});
        await dialog.destroy();
        emit({event: 'bye-sent'});
        break;
      } catch (err) {
        emit({event: 'uac-failed', status: err.status, message: String(err)});
        if (follow || !err.res || !err.res.has('Contact')) break;
        uri = err.res.getParsedHeader('Contact')[0].uri;
        emit({event: 'redirected', uri});
      }
    }
    done();
  }
  else if (role === 'uac' || role === 'uac-100rel') {
    // createUAC to a far end that answers 200; then the app hangs up. With
    // uac-100rel the far end sends a reliable 183 first, which drachtio-srf PRACKs.
    const callbacks = role === 'uac' ? {} : {
      cbProvisional: (res) => emit({event: 'provisional', status: res.status, rseq: res.get('RSeq')}),
    };
    try {
      const dialog = await srf.createUAC(target, {localSdp: SDP}, callbacks);
      emit({event: 'dialog', id: dialog.id, remoteSdp: dialog.remote.sdp.startsWith('v=0')});
      await dialog.destroy();
      emit({event: 'bye-sent'});
    } catch (err) {
      emit({event: 'uac-failed', status: err.status, message: String(err)});
    }
    done();
  }
});
if (roles[role]) roles[role]();
