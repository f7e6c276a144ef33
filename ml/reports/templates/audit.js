(function(){
  var boxes=document.querySelectorAll('#filters input[type=checkbox]');
  var search=document.getElementById('filter-text');
  function apply(){
    var on={};boxes.forEach(function(b){on[b.dataset.kind+':'+b.value]=b.checked;});
    var text=(search.value||'').toLowerCase(), shown=0;
    document.querySelectorAll('details.control').forEach(function(c){
      var ok=on['status:'+c.dataset.status]&&on['framework:'+c.dataset.framework]
        &&(!text||c.textContent.toLowerCase().indexOf(text)>=0);
      c.classList.toggle('hidden',!ok); if(ok){shown++;}
    });
    document.querySelectorAll('section.family').forEach(function(f){
      f.classList.toggle('hidden',!f.querySelector('details.control:not(.hidden)'));
    });
    document.getElementById('visible-count').textContent=shown;
  }
  boxes.forEach(function(b){b.addEventListener('change',apply);});
  search.addEventListener('input',apply);
  apply(); document.body.dataset.ready='1';
})();
