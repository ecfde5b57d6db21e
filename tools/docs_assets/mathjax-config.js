// MathJax 3 for the notebooks' LaTeX: $...$ and \(...\) inline, $$...$$ and \[...\] displayed, as in Jupyter.
// Loaded before tex-svg.js (a copy inside the site when django-static-mathjax is installed: nothing is fetched).
window.MathJax = {
  tex: {
    inlineMath: [['$', '$'], ['\\(', '\\)']],
    displayMath: [['$$', '$$'], ['\\[', '\\]']],
    processEscapes: true,
    processEnvironments: true,
  },
  svg: {fontCache: 'global'},
  options: {skipHtmlTags: ['script', 'noscript', 'style', 'textarea', 'pre', 'code']},
};
