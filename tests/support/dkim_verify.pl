#!/usr/bin/perl
# Verifies the DKIM signatures of the message on standard input with Mail::DKIM, an
# implementation independent of the platform's, asking the DNS server at 127.0.0.1:PORT.
# Prints one line per signature ("pass", "fail (reason)", ...) and "result: <overall>".
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS::Resolver;

my $port = shift or die "usage: dkim_verify.pl DNS_PORT < message\n";
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $port, recurse => 1));
my $verifier = Mail::DKIM::Verifier->new();
binmode STDIN;
while (my $line = <STDIN>) {
    $line =~ s/\015?\012$/\015\012/;
    $verifier->PRINT($line);
}
$verifier->CLOSE;
foreach my $signature ($verifier->signatures) {
    print "signature d=", $signature->domain, " s=", $signature->selector, ": ", $signature->result_detail, "\n";
}
print "result: ", $verifier->result, "\n";
