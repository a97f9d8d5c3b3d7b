/** The human text printed after `modgate certs init`: how clients trust the local CA. */
export function trustInstructions(p: {
  caFile: string;
  bundleFile: string;
  caCreated: boolean;
}): string {
  const ca = p.caFile;
  return [
    p.caCreated ? `A new local CA was created: ${ca}` : `The existing local CA was kept: ${ca}`,
    'Go clients must trust it before they can use modgate over HTTPS as GOPROXY. Pick one:',
    '',
    '1. Per shell or per job, on Linux and other Unix systems (no root needed):',
    `     export SSL_CERT_FILE=${p.bundleFile}`,
    '   SSL_CERT_FILE replaces the system root store for Go programs instead of adding',
    '   to it, so it points at bundle.pem: the system roots plus the modgate CA. Other',
    '   hosts (sum.golang.org, VCS servers) stay trusted. Regenerate the bundle after',
    '   system CA updates (`modgate certs init` keeps the CA). Go ignores SSL_CERT_FILE',
    '   on macOS and Windows, where it uses the system verifier: use 3 or 4 there.',
    '',
    '2. System-wide on Debian / Ubuntu:',
    `     sudo cp ${ca} /usr/local/share/ca-certificates/modgate.crt`,
    '     sudo update-ca-certificates',
    '   On RHEL / Fedora / CentOS:',
    `     sudo cp ${ca} /etc/pki/ca-trust/source/anchors/modgate.pem`,
    '     sudo update-ca-trust',
    '',
    '3. macOS (system keychain):',
    `     sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${ca}`,
    '',
    '4. Windows (elevated prompt):',
    `     certutil -addstore -f Root ${ca}`,
    '',
    'ca-key.pem can issue certificates that these clients accept for any name: keep',
    'it private (it is written with mode 0600) or delete it once the server',
    'certificate is issued; `modgate certs init` then needs a new CA.',
  ].join('\n');
}
