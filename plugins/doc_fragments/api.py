# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The Proxmox VE API connection options every module takes.
    DOCUMENTATION = r"""
options:
  api_host:
    description:
      - Host name or IP address of the Proxmox VE node whose API the module talks to.
      - Falls back to the E(PROXMOX_HOST) environment variable.
    type: str
    required: true
  api_port:
    description:
      - TCP port of the Proxmox VE API.
      - Falls back to the E(PROXMOX_PORT) environment variable.
    type: int
    default: 8006
  api_user:
    description:
      - User to authenticate as, in the form C(user@realm).
      - With an API token, the user that owns the token.
      - Falls back to the E(PROXMOX_USER) environment variable.
    type: str
    default: root@pam
  api_password:
    description:
      - Password of O(api_user). Used to get an authentication ticket when no API token is given.
      - Falls back to the E(PROXMOX_PASSWORD) environment variable.
    type: str
  api_otp:
    description:
      - One-time password (TOTP) for a user with two-factor authentication.
    type: str
  api_token_id:
    description:
      - ID of an API token of O(api_user), the part after C(!) (C(root@pam!automation) gives C(automation)).
        The whole C(user@realm!name) is accepted too.
      - Falls back to the E(PROXMOX_TOKEN_ID) environment variable.
    type: str
  api_token_secret:
    description:
      - Secret of the API token named by O(api_token_id).
      - Falls back to the E(PROXMOX_TOKEN_SECRET) environment variable.
    type: str
  validate_certs:
    description:
      - Verify the TLS certificate of the API endpoint.
      - Set to V(false) only for a host you trust; prefer giving its CA with O(ca_path).
      - Falls back to the E(PROXMOX_VALIDATE_CERTS) environment variable.
    type: bool
    default: true
  ca_path:
    description:
      - Path to a PEM file of the CA certificate(s) that signed the API's certificate,
        such as C(/etc/pve/pve-root-ca.pem) of the cluster.
      - Falls back to the E(PROXMOX_CA_PATH) environment variable.
    type: path
  api_timeout:
    description:
      - Seconds to wait for one API answer.
    type: int
    default: 30
requirements:
  - proxmoxer >= 2.0
  - requests
notes:
  - Give either O(api_password) or both O(api_token_id) and O(api_token_secret).
  - Reads and other idempotent calls are retried with backoff when the connection fails or
    a proxy or gateway error comes back; a call that changes something is repeated only when
    it certainly did not reach the server.
"""
