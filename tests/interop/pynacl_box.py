#!/usr/bin/env python3
"""The independent side of the sealed-box cross-check: libsodium through PyNaCl.

Usage (keys and boxes are standard base64; plaintext is raw bytes on stdin/stdout):
  pynacl_box.py keypair            -> prints "SECRET_KEY PUBLIC_KEY"
  pynacl_box.py seal PUBLIC_KEY    <plaintext   -> prints the sealed box
  pynacl_box.py open SECRET_KEY    <sealed box  -> writes the plaintext

Requires PyNaCl (pip install pynacl).
"""
import base64
import sys

from nacl.public import PrivateKey, PublicKey, SealedBox


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def main() -> int:
    command = sys.argv[1]
    if command == "keypair":
        secret = PrivateKey.generate()
        print(b64(bytes(secret)), b64(bytes(secret.public_key)))
    elif command == "seal":
        public = PublicKey(base64.b64decode(sys.argv[2]))
        print(b64(SealedBox(public).encrypt(sys.stdin.buffer.read())))
    elif command == "open":
        secret = PrivateKey(base64.b64decode(sys.argv[2]))
        sealed = base64.b64decode(sys.stdin.read().strip())
        sys.stdout.buffer.write(SealedBox(secret).decrypt(sealed))
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
