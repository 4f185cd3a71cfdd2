import '../../bin/local/polyfills';
