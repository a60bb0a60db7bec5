// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata
// API installed before it loads. Installing it is this module's whole job: package.json names
// its built files in "sideEffects", so a bundler keeps it even though nothing is imported.
import 'reflect-metadata';
