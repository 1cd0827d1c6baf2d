// React in production mode for the terminal UI (development mode checks and
// warns on every render, several times slower): imported first, before
// anything that loads react, by the UI's thread and the UI benchmark.
// ES modules are evaluated in import order, so a statement in the importing
// module's body would run too late.

process.env.NODE_ENV ??= 'production';
