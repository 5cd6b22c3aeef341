export * as functional from './functional.js';
export * as F from './functional.js';
