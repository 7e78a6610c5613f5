// The settings of a connection to Puppet Server, shared by the providers that talk to it
// (puppetca_http_api, puppet_proxy_puppet_api): each declares them in its own settings file, as
// the reference does, with its own default CA path.

import * as setting from '../../core/settings/schema.ts';

export function puppetServerSettings(o: { urlDescription: string; caDefault: string }) {
  return {
    puppet_url: setting.url({ required: true, example: 'https://puppet.example.com:8140', description: o.urlDescription }),
    puppet_ssl_ca: setting.file({
      default: o.caDefault,
      checks: ['readable'],
      description: "CA that signed the Puppet Server's certificate; the server is verified against it.",
    }),
    puppet_ssl_cert: setting.file({
      checks: ['readable'],
      example: '/etc/puppetlabs/puppet/ssl/certs/proxy.example.com.pem',
      description: "The proxy's client certificate towards Puppet Server, presented together with puppet_ssl_key.",
    }),
    puppet_ssl_key: setting.file({
      checks: ['readable'],
      example: '/etc/puppetlabs/puppet/ssl/private_keys/proxy.example.com.pem',
      description: 'The key of puppet_ssl_cert.',
    }),
  };
}
