package suite

// keyPad is RFC 7296 section 2.15's constant, without a terminator.
const keyPad = "Key Pad for IKEv2"

// PSKAuth is the AUTH data for a pre-shared key (RFC 7296 section 2.15):
//
//	AUTH = prf(prf(psk, "Key Pad for IKEv2"), msg | peerNonce | prf(skp, idBody))
//
// where msg is the sender's IKE_SA_INIT message (as sent, all of it),
// peerNonce the other side's nonce data, skp the sender's SK_p and idBody
// the sender's ID payload body (wire.ID.Body). To check a peer's AUTH,
// compute it with the peer's message, our nonce and the peer's SK_p, and
// compare with hmac.Equal.
func PSKAuth(prf uint16, psk, msg, peerNonce, skp, idBody []byte) ([]byte, error) {
	p, err := NewPRF(prf)
	if err != nil {
		return nil, err
	}
	macedID := p.Sum(skp, idBody)
	key := p.Sum(psk, []byte(keyPad))
	auth := p.Sum(key, msg, peerNonce, macedID)
	clear(key)
	return auth, nil
}
