// Vite's ?raw imports: a file's text (the error-catalogue test reads README.md this way).
declare module '*?raw' {
  const text: string;
  export default text;
}
