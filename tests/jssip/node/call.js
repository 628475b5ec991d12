// Places one call with JsSIP over SIP over WebSocket and waits for the far
// end to hang up: `node call.js WS_URL TARGET_URI`. Prints one line per
// step ("connected", "confirmed", "ended remote Terminated": JsSIP's cause
// for a BYE received) and exits 0 when the call was answered and then ended
// by the far end, 1 otherwise.
//
// JsSIP runs in browsers: node gives it the `ws` package as its WebSocket,
// and a stand-in RTCPeerConnection that offers a fixed audio SDP (node has
// no WebRTC; the test is of the signalling, not of the media).
'use strict';

const WebSocket = require('ws');
const JsSIP = require('jssip');

const OFFER = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 40000 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  'a=sendrecv',
  '',
].join('\r\n');

class SignallingOnlyPeerConnection {
  constructor() {
    this.iceGatheringState = 'complete';
    this.iceConnectionState = 'new';
    this.signalingState = 'stable';
    this.localDescription = null;
    this.remoteDescription = null;
  }
  addEventListener() {}
  removeEventListener() {}
  createOffer() { return Promise.resolve({ type: 'offer', sdp: OFFER }); }
  createAnswer() { return Promise.resolve({ type: 'answer', sdp: OFFER }); }
  setLocalDescription(desc) { this.localDescription = desc; return Promise.resolve(); }
  setRemoteDescription(desc) { this.remoteDescription = desc; return Promise.resolve(); }
  getSenders() { return []; }
  getReceivers() { return []; }
  getLocalStreams() { return []; }
  getRemoteStreams() { return []; }
  close() {}
}

globalThis.window = globalThis;
globalThis.WebSocket = WebSocket;
globalThis.RTCPeerConnection = SignallingOnlyPeerConnection;
globalThis.RTCSessionDescription = function RTCSessionDescription(init) { return init; };

const [url, target] = process.argv.slice(2);
const ua = new JsSIP.UA({
  sockets: [new JsSIP.WebSocketInterface(url)],
  uri: 'sip:alice@example.com',
  register: false,
  session_timers: false,
});

function finish(code, line) {
  console.log(line);
  ua.stop();
  setTimeout(() => process.exit(code), 200);
}

setTimeout(() => finish(1, 'timed out'), 20000);

ua.on('connected', () => {
  console.log('connected');
  ua.call(target, {
    mediaConstraints: { audio: false, video: false },
    pcConfig: {},
    eventHandlers: {
      confirmed: () => console.log('confirmed'),
      ended: (e) => finish(e.originator === 'remote' ? 0 : 1, `ended ${e.originator} ${e.cause}`),
      failed: (e) => finish(1, `failed ${e.originator} ${e.cause}`),
    },
  });
});
ua.start();
