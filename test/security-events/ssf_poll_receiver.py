#!/usr/bin/env python3
# A receiver of security events written by strangers, in another language: Authlib (Debian's
# python3-authlib) verifies what Gatehouse signs, with its own JOSE code. It reads the transmitter
# metadata, polls POST /ssf/poll (RFC 8936) with HTTP Basic credentials, verifies each SET against
# the JWKS the metadata names (issuer, audience, jti, typ secevent+jwt), acknowledges those in a
# second poll, and prints each verified SET, then that second answer, as JSON lines.
#
#   ssf_poll_receiver.py ISSUER AUDIENCE CLIENT_ID CLIENT_SECRET
import base64
import json
import sys
import urllib.parse
import urllib.request

from authlib.jose import JsonWebKey, JsonWebToken

issuer, audience, client_id, client_secret = sys.argv[1:5]
# RFC 6749 section 2.3.1: each part form-encoded, then joined and base64-encoded.
credentials = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(client_secret)}"
authorization = "Basic " + base64.b64encode(credentials.encode()).decode()


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def poll(body):
    request = urllib.request.Request(
        issuer + "/ssf/poll",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": authorization, "Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


metadata = get(issuer + "/.well-known/ssf-configuration")
if metadata["issuer"] != issuer or "urn:ietf:rfc:8936" not in metadata["delivery_methods_supported"]:
    sys.exit("the transmitter metadata does not offer poll delivery for " + issuer)
keys = JsonWebKey.import_key_set(get(metadata["jwks_uri"]))
jwt = JsonWebToken(["ES256", "RS256"])

answer = poll({"returnImmediately": True})
acknowledged = []
for jti, token in answer["sets"].items():
    claims = jwt.decode(token, keys, claims_options={
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": audience},
        "jti": {"essential": True, "value": jti},
    })
    claims.validate()
    if claims.header.get("typ") != "secevent+jwt":
        sys.exit("not a SET: typ " + str(claims.header.get("typ")))
    print(json.dumps(dict(claims)))
    acknowledged.append(jti)
print(json.dumps({"afterAcknowledging": poll({"ack": acknowledged, "returnImmediately": True})}))
