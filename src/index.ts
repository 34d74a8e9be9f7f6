export * from './core/index.js';
export * from './graph/index.js';
export * from './transport/index.js';
export * from './whatsapp/index.js';
